//go:build unix

package control_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestAdminSocketLetsItsOwnerInWhateverTheUmask: a umask that takes the owner's own bits away does not lock the owner out of the admin socket, nor open it to anyone else.
func TestAdminSocketLetsItsOwnerInWhateverTheUmask(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock") // made before the umask takes the owner's bits
	old := syscall.Umask(0o277)
	defer syscall.Umask(old)
	ln, err := control.ListenAdmin(context.Background(), path, control.NewHandler(quiet), nil)
	if err != nil {
		return // refusing to start would be fine too
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "ListenAdmin succeeded, so its owner must be able to connect")
}

// TestTokenFileMustBeARegularFile: a token file that is a FIFO is refused at once instead of waiting for a writer for good.
func TestTokenFileMustBeARegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := control.ReadTokenFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		assert.Error(t, err, "a FIFO is not a token file")
	case <-time.After(2 * time.Second):
		// Release the reader so the test can end.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Error("ReadTokenFile blocked on a FIFO for 2s: serve --token-file would hang at start")
	}
}
