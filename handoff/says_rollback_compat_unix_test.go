//go:build unix

package handoff_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// An offer of the same wire version that does not say says_rollback (an
// older build) may roll back without a word: a taker that hears its
// connection end before the go lets the sockets go, as before, rather
// than serve beside an old process that may serve on.
func TestAnOfferThatDoesNotSayItsRollbacksIsTakenAsBefore(t *testing.T) {
	tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer tcp.Close()
	sock := map[string]any{"name": "g", "network": "tcp4", "address": tcp.Addr().String(), "state": "accepting", "files": 1}
	path, answer := fakeOffer(t, []map[string]any{sock}, []*os.File{listenerFile(t, tcp)})
	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	err = tk.Commit(context.Background()) // the fake offer hangs up after ready
	assert.Equal(t, "ready", <-answer)
	require.Error(t, err)
	assert.Equal(t, acceptgate.Closed, g.State(), "the sockets went back to the old process")
}
