package acceptgate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// Whichever step of a unix Reject or Resume fails, the path keeps leading
// to a socket that answers as the reported state says, the queued clients
// are served, and nothing is left behind.
func TestFailedUnixTransitionsKeepThePath(t *testing.T) {
	for _, tc := range []struct {
		op     string
		n      int
		during acceptgate.State // the transition that fails goes to this state
	}{
		{op: faults.Link, n: 1, during: acceptgate.Rejecting},
		{op: faults.Park, n: 1, during: acceptgate.Rejecting},
		{op: faults.Rename, n: 1, during: acceptgate.Rejecting},
		{op: faults.Rename, n: 2, during: acceptgate.Accepting},
	} {
		t.Run(fmt.Sprintf("%s#%d", tc.op, tc.n), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "gate.sock")
			fds := openDescriptors(t)
			t.Cleanup(func() { // after the clients' own cleanups
				eventually(t, func() bool { return openDescriptors(t) <= fds }, "descriptors back to %d", fds)
			})
			l, err := acceptgate.Listen(context.Background(), "unix", path, withFaults(t))
			require.NoError(t, err)
			require.NoError(t, os.Chmod(path, 0o600))
			require.NoError(t, l.Pause())
			conns := queueClients(t, l, 2)

			disarm := arm(t, tc.op, tc.n, syscall.EIO)
			err = l.Reject()
			if tc.during == acceptgate.Rejecting {
				require.ErrorIs(t, err, syscall.EIO)
				assert.Equal(t, acceptgate.Paused, l.State())
				c := dial(t, l.Addr()) // paused: queued, not refused
				c.Close()
			} else {
				require.NoError(t, err)
				require.ErrorIs(t, l.Resume(), syscall.EIO)
				assert.Equal(t, acceptgate.Rejecting, l.State())
				refused(t, l.Addr()) // ECONNREFUSED, not ENOENT
			}
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

			disarm()
			serveEcho(t, l)
			require.NoError(t, l.Resume())
			servedLines(t, conns)
			echoes(t, l, "back")
			require.NoError(t, l.Close())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "Close removes the path and nothing else is left")
		})
	}
}

// An abstract unix socket has no path at which to refuse; Reject says so
// and changes nothing, instead of creating a file named after it.
func TestRejectRefusesAbstractUnixSockets(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l := listen(t, "unix", fmt.Sprintf("@acceptgate-test-%d", os.Getpid()))
	assert.ErrorIs(t, l.Reject(), errors.ErrUnsupported)
	assert.Equal(t, acceptgate.Accepting, l.State())
	serveEcho(t, l)
	echoes(t, l, "still")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// Across many Rejects and Resumes, a 0600 unix socket's path never grants
// more, never goes missing, and no descriptor is left.
func TestUnixPathNeverWidensNorGoesMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.sock")
	fds := openDescriptors(t)
	l, err := acceptgate.Listen(context.Background(), "unix", path, withFaults(t))
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o600))

	stop := make(chan struct{})
	seen := make(chan []string, 1)
	go func() {
		var bad []string
		for n := 0; ; n++ {
			select {
			case <-stop:
				seen <- bad
				return
			default:
			}
			fi, err := os.Lstat(path)
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case fi.Mode().Perm() != 0o600:
				bad = append(bad, fi.Mode().String())
			}
		}
	}()
	for range 100 {
		require.NoError(t, l.Reject())
		require.NoError(t, l.Resume())
	}
	close(stop)
	assert.Empty(t, <-seen)
	require.NoError(t, l.Close())
	eventually(t, func() bool { return openDescriptors(t) <= fds }, "descriptors back to %d", fds)
}

// While rejecting, the socket at a unix path has the owner, group and mode
// the listener's had: a client of the group that may connect is refused, not
// denied.
func TestUnixRejectKeepsThePathsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs to give the socket to another group")
	}
	path := filepath.Join(t.TempDir(), "gate.sock")
	l := listen(t, "unix", path)
	require.NoError(t, os.Chown(path, -1, 65534))
	require.NoError(t, os.Chmod(path, 0o660))
	require.NoError(t, l.Reject())
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(path, &st))
	assert.EqualValues(t, 65534, st.Gid)
	assert.EqualValues(t, 0o660, st.Mode&0o777)
}
