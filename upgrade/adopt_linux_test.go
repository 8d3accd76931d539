package upgrade

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/listener"
)

// A listener the server made itself and Adopted is handed over with the
// gates, found by the next generation under its name with ListenNamed and
// no address; a name nothing was inherited by is ErrNoSocket, with no
// socket made. The next generation offers at the same OfferPath as soon as
// it serves: Upgrade frees the path for it.
func TestUpgradeHandsOverAnAdoptedListenerAndTheOfferPath(t *testing.T) {
	dir := shortDir(t)
	reportFile := filepath.Join(dir, "report")
	t.Setenv(reportEnv, reportFile)
	offer := filepath.Join(dir, "offer")
	t.Setenv(offerEnv, offer)
	t.Setenv(namedEnv, "extra")
	n := listenNotify(t, filepath.Join(dir, "notify"))
	t.Setenv("NOTIFY_SOCKET", n.Addr)

	g := startGeneration(t, "serve", Options{OfferPath: offer})
	_, err := g.u.ListenNamed(context.Background(), "extra", "", "")
	require.ErrorIs(t, err, listener.ErrNoSocket, "nothing inherited by that name")
	path := filepath.Join(dir, "extra.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	adopted, err := g.u.Adopt("extra", ln)
	require.NoError(t, err)
	defer adopted.Close()
	_, err = g.u.Adopt("extra", ln)
	require.Error(t, err, "a name adopted twice")
	require.NoError(t, g.u.Ready())
	_, err = g.u.Adopt("late", ln)
	require.ErrorIs(t, err, ErrStopped, "Adopt after Ready")

	require.NoError(t, g.u.Upgrade())
	<-g.u.Exit()
	msgs := n.WaitFor(t, 3, patience)
	next, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(msgs[2], "MAINPID="), "\nREADY=1"))
	require.NoError(t, err, "MAINPID= of the next generation: %q", msgs[2])
	defer func() {
		unix.Kill(next, unix.SIGTERM)
		reapChild(t, next)
	}()
	assert.Equal(t, "named extra="+path, reportLine(t, reportFile, "named"), "the adopted socket, taken over by its name")
	reportLine(t, reportFile, "ready")
	// This generation stopped offering at Upgrade; the one there now is
	// the next generation's.
	eventually(t, func() bool {
		c, err := net.Dial("unixpacket", offer)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the next generation to offer at "+offer)
}
