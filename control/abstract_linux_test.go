package control_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestListenAdminRefusesAnAbstractName: "@name/admin.sock" (or a name
// starting with NUL) is an abstract socket on Linux, which has no file and
// so no mode: every local user could connect, and an API without a token
// lets every client of a unix socket in. It is refused, even when a private
// file of that relative name in the working directory would have passed a
// check of the path's mode, and nothing listens at the name afterwards.
func TestListenAdminRefusesAnAbstractName(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := "@acceptgate-test-" + strconv.Itoa(os.Getpid())
	require.NoError(t, os.Mkdir(dir, 0o700))
	name := filepath.Join(dir, "admin.sock")
	require.NoError(t, os.WriteFile(name, nil, 0o600), "a private file that the mode check of the old code found")

	for _, addr := range []string{name, "\x00" + name[1:]} {
		ln, err := control.ListenAdmin(context.Background(), addr, control.NewHandler(quiet), nil)
		if ln != nil {
			ln.Close()
		}
		require.ErrorIs(t, err, os.ErrInvalid, "%q", addr)
		assert.ErrorContains(t, err, "abstract")
		c, err := net.Dial("unix", addr)
		if c != nil {
			c.Close()
		}
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "nothing listens at %q: %v", addr, err)
	}
}
