//go:build unix

package acceptgate_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// successorAt makes what a new instance that clears its path before it
// listens (stale or not, as many servers do) makes of a unix gate's path:
// another socket there, served by an echo server.
func successorAt(t *testing.T, path string) *acceptgate.Listener {
	t.Helper()
	require.NoError(t, os.Remove(path))
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	next := acceptgate.Wrap(ln)
	t.Cleanup(func() { next.Close() })
	serveEcho(t, next)
	return next
}

// assertSuccessorServes checks that the path still leads to the new
// socket, and nothing of the old gate is left beside it.
func assertSuccessorServes(t *testing.T, next *acceptgate.Listener, what string) {
	t.Helper()
	got, err := roundTrip(dial(t, next.Addr()), what)
	require.NoError(t, err, "the new socket's clients reach it")
	assert.Equal(t, "echo: "+what+"\n", got)
	entries, err := os.ReadDir(filepath.Dir(next.Addr().String()))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing of the old gate beside the path: %v", entries)
}

// A unix gate whose path another socket took while it accepted or paused
// leaves that path alone: Reject fails with an error wrapping
// syscall.EADDRINUSE and changes nothing, rather than put a socket that
// refuses in front of the new one; and Close does not remove the new
// one's file. Only Linux says which file a socket is bound to.
func TestAUnixPathAnotherSocketTookIsLeftAlone(t *testing.T) {
	if !onLinux {
		t.Skip("only Linux tells which file a unix socket is bound to")
	}
	for _, from := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused} {
		t.Run(from.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gate.sock")
			old := listen(t, "unix", path)
			if from == acceptgate.Paused {
				require.NoError(t, old.Pause())
			}
			next := successorAt(t, path)

			assert.ErrorIs(t, old.Reject(), syscall.EADDRINUSE)
			assert.Equal(t, from, old.State(), "Reject changed nothing")
			assertSuccessorServes(t, next, "while the old gate tried to reject")

			assert.ErrorIs(t, old.Close(), syscall.EADDRINUSE, "Close says the path was not its own any more")
			assert.Equal(t, acceptgate.Closed, old.State())
			assertSuccessorServes(t, next, "after the old gate closed")
		})
	}
}

// A unix gate whose path leads to its own socket closes and rejects as
// before: the check that leaves another's path alone does not take its own
// for another's, also after a Reject and Resume renamed its file away and
// back.
func TestAUnixGateKeepsItsOwnPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	l := listen(t, "unix", path)
	serveEcho(t, l)
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	require.NoError(t, l.Resume())
	got, err := roundTrip(dial(t, l.Addr()), "after Resume")
	require.NoError(t, err)
	assert.Equal(t, "echo: after Resume\n", got)
	require.NoError(t, l.Reject())
	require.NoError(t, l.Resume())
	require.NoError(t, l.Close())
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "Close removed its own path")
}
