//go:build unix

package acceptgate_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/listener"
)

// While a unix gate rejects, its path looks stale, and a restarted instance
// that clears stale paths binds there. The old gate's Resume then fails,
// and its Close leaves the path to the new server: its clients still reach
// it.
func TestCloseLeavesASuccessorsUnixPathAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	old := listen(t, "unix", path)
	require.NoError(t, old.Reject())

	next, err := listener.Config{}.Rebind(context.Background(), old.Addr())
	require.NoError(t, err, "the rejecting gate's path looks stale")
	successor := acceptgate.Wrap(next)
	defer successor.Close()
	serveEcho(t, successor)

	assert.ErrorIs(t, old.Resume(), syscall.EADDRINUSE)
	assert.Equal(t, acceptgate.Rejecting, old.State())
	assert.ErrorIs(t, old.Close(), syscall.EADDRINUSE, "Close says the path was not its own any more")
	assert.Equal(t, acceptgate.Closed, old.State())

	_, err = os.Lstat(path)
	require.NoError(t, err, "the successor's socket file is still there")
	got, err := roundTrip(dial(t, successor.Addr()), "still here")
	require.NoError(t, err)
	assert.Equal(t, "echo: still here\n", got)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing of the old gate's hiding is left: %v", entries)
}

// unixConnListener exposes a unix listener's socket, but not its
// SetUnlinkOnClose: its Close removes the path, whoever holds it then.
type unixConnListener struct {
	net.Listener
	syscall.Conn
}

// A unix listener whose Close cannot be kept off the path is not rejected:
// Reject fails with errors.ErrUnsupported and changes nothing.
func TestRejectRefusesAUnixListenerThatAlwaysRemovesItsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	l := acceptgate.Wrap(unixConnListener{ln, ln.(*net.UnixListener)})
	defer l.Close()
	before, err := os.Lstat(path)
	require.NoError(t, err)

	assert.ErrorIs(t, l.Reject(), errors.ErrUnsupported)
	assert.Equal(t, acceptgate.Accepting, l.State())
	after, err := os.Lstat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "the path still leads to the listener")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing made beside it: %v", entries)
	serveEcho(t, l)
	got, err := roundTrip(dial(t, l.Addr()), "here")
	require.NoError(t, err)
	assert.Equal(t, "echo: here\n", got)
}
