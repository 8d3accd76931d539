package sockets_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// TestCheckPrivateWantsASocketOfThisUser: the check that a private socket
// is what it says passes only a socket file of this user's with mode 0600;
// a regular file of the same mode, another user's socket and an abstract
// name, whose path lstat would read as a file of the working directory,
// all fail.
func TestCheckPrivateWantsASocketOfThisUser(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	ln, err := sockets.ListenPrivate(ctx, "unix", sock)
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, sockets.CheckPrivate(sock), "its own socket, 0600")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.ErrorContains(t, sockets.CheckPrivate(file), "not a socket")

	t.Chdir(dir)
	require.NoError(t, os.WriteFile("@admin", nil, 0o600))
	assert.ErrorIs(t, sockets.CheckPrivate("@admin"), os.ErrInvalid, "an abstract name is not the file of that name")
	_, err = sockets.ListenPrivate(ctx, "unix", "@admin")
	assert.ErrorIs(t, err, os.ErrInvalid, "nor is it listened on")

	if os.Geteuid() != 0 {
		t.Log("not root: cannot give a socket to another user; the owner check is left untested")
		return
	}
	other, err := net.Listen("unix", filepath.Join(dir, "other.sock"))
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, os.Chmod(filepath.Join(dir, "other.sock"), 0o600))
	require.NoError(t, os.Lchown(filepath.Join(dir, "other.sock"), 65534, 65534))
	assert.ErrorContains(t, sockets.CheckPrivate(filepath.Join(dir, "other.sock")), "belongs to uid 65534")
}
