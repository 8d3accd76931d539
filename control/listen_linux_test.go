package control_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/control"
)

// TestAdminSocketIsPrivateBeforeBind checks the Linux way: the socket is
// made 0600 before bind creates its file, which takes that mode, so the file
// is never reachable by others, even with a umask that would leave it open
// to all, and nothing chmods it afterwards.
func TestAdminSocketIsPrivateBeforeBind(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "admin.sock")
	var beforeBind []uint32
	restore := control.SetBeforeBindHook(func(fd int) {
		var st unix.Stat_t
		require.NoError(t, unix.Fstat(fd, &st))
		beforeBind = append(beforeBind, st.Mode&0o777)
		_, err := os.Lstat(path)
		assert.ErrorIs(t, err, os.ErrNotExist, "no file before bind")
	})
	defer restore()
	ln, err := control.ListenAdmin(context.Background(), path, control.NewHandler(quiet), nil)
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, []uint32{0o600}, beforeBind, "the socket was 0600 before bind")
	assertMode(t, path, 0o600)
}
