package acceptgate_test

import (
	"bufio"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A handoff Prepare issued while a Reject waits for a handshake
// waits for it, while Accept goes on delivering what the settle loop takes
// out; after Release the late client is still delivered and Drained closes.
func TestPrepareReleaseWhileRejectWaitsAndAcceptDelivers(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember)
	rejected, release := waitingReject(t, g)
	type prep struct {
		files []*os.File
		err   error
	}
	prepared := make(chan prep, 1)
	go func() {
		_, files, err := side(g).Prepare()
		prepared <- prep{files, err}
	}()
	second := dial(t, g.Addr())
	_, err := io.WriteString(second, "second\n")
	require.NoError(t, err)
	r := receive(t, acceptAsync(t, g))
	require.NoError(t, r.err)
	r.c.Close()
	notYet(t, rejected, "Reject")
	notYet(t, prepared, "Prepare, behind the Reject")
	release()
	require.NoError(t, <-rejected)
	var p prep
	select {
	case p = <-prepared:
	case <-time.After(patience):
		t.Fatal("Prepare did not return")
	}
	require.NoError(t, p.err)
	for _, f := range p.files {
		f.Close()
	}
	require.NoError(t, side(g).Release())
	assert.Equal(t, acceptgate.Closed, g.State())
	r = receive(t, acceptAsync(t, g))
	require.NoError(t, r.err, "the late client, pending, is still delivered")
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "late\n", line)
	r.c.Close()
	select {
	case <-side(g).Drained():
	case <-time.After(patience):
		t.Fatal("Drained not closed after the last pending delivered")
	}
	assert.Equal(t, acceptgate.Closed, g.Stats().State)
}
