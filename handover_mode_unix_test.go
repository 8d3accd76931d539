//go:build unix

package acceptgate_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A hidden unix socket is handed over with the mode of the listener's own
// file, the one clients meet once Resume gives the path back, even where
// that mode is 0 and the socket refusing at the path meanwhile has another
// (an operator changed it while the gate rejected).
func TestAHiddenSocketIsHandedOverWithItsOwnFilesModeEvenZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	l, err := acceptgate.Listen(context.Background(), "unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, os.Chmod(path, 0))
	require.NoError(t, l.Reject())
	require.NoError(t, os.Chmod(path, 0o660)) // the socket refusing there
	hs, files, err := side(l).Prepare()
	require.NoError(t, err)
	for _, f := range files {
		f.Close()
	}
	side(l).Rollback()
	assert.Equal(t, os.FileMode(0), hs.Mode, "handed over as %04o", hs.Mode)
	require.NoError(t, l.Resume())
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0), fi.Mode().Perm(), "the file clients meet after Resume")
}
