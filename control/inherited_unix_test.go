//go:build unix

package control_test

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// listenUnixMode listens on a unix socket at path and gives its file mode.
func listenUnixMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	require.NoError(t, os.Chmod(path, mode))
}

// TestCheckInheritedSocket: only a socket file of this user (or root) that
// no one else may connect to passes; everything else is refused, and the
// file is left as it was.
func TestCheckInheritedSocket(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private.sock")
	listenUnixMode(t, private, 0o600)
	require.NoError(t, control.CheckInheritedSocket(private))

	for _, mode := range []os.FileMode{0o666, 0o660, 0o604} {
		path := filepath.Join(dir, "open-"+mode.String()+".sock")
		listenUnixMode(t, path, mode)
		err := control.CheckInheritedSocket(path)
		require.Error(t, err, "%04o", mode)
		assert.Contains(t, err.Error(), "not private to its owner", "%04o", mode)
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), "%04o: left as it was, not chmodded", mode)
	}

	link := filepath.Join(dir, "link.sock")
	require.NoError(t, os.Symlink(private, link))
	err := control.CheckInheritedSocket(link)
	assert.ErrorContains(t, err, "is not a socket", "a symbolic link is not followed")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.ErrorContains(t, control.CheckInheritedSocket(file), "is not a socket")

	assert.ErrorIs(t, control.CheckInheritedSocket(filepath.Join(dir, "missing.sock")), fs.ErrNotExist)
	assert.ErrorIs(t, control.CheckInheritedSocket("@admin"), os.ErrInvalid, "an abstract name has no file")
	assert.ErrorIs(t, control.CheckInheritedSocket("admin\x00"), os.ErrInvalid)
}

// TestCheckInheritedSocketRefusesOtherUsers: a private socket of another
// user (not root) is refused: its owner could serve anything there.
func TestCheckInheritedSocketRefusesOtherUsers(t *testing.T) {
	if !runningAsRoot() {
		t.Skip("needs root, to give a socket to another user")
	}
	path := filepath.Join(t.TempDir(), "other.sock")
	listenUnixMode(t, path, 0o600)
	require.NoError(t, chownOther(path))
	assert.ErrorContains(t, control.CheckInheritedSocket(path), "belongs to uid 65534")
}
