package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adminSocketFiles returns the descriptors of a TCP socket for http and of
// adminLn, as a unit would pass them.
func adminSocketFiles(t *testing.T, adminLn *net.UnixListener) []*os.File {
	t.Helper()
	web, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { web.Close() })
	var files []*os.File
	for _, l := range []interface{ File() (*os.File, error) }{web.(*net.TCPListener), adminLn} {
		f, err := l.File()
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return files
}

// TestServeSystemdRefusesAnAbstractAdminSocketWithoutAToken: a unit's
// ListenStream=@name passes an abstract socket, which every local user can
// connect to. Without a token, serve must refuse it, even when its working
// directory holds a private file of that name (which the mode check used to
// look at instead).
func TestServeSystemdRefusesAnAbstractAdminSocketWithoutAToken(t *testing.T) {
	bin := build(t)
	name := fmt.Sprintf("@acceptgate-test-%d", os.Getpid())
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	require.NoError(t, err)
	defer ln.Close()
	files := adminSocketFiles(t, ln)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := activated(ctx, bin, files)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "serve refuses an abstract admin socket without a token; it said:\n%s", out)
	assert.Contains(t, string(out), "abstract")
}

// TestServeSystemdRefusesAnAdminSocketOfAnotherUser: a socket file of mode
// 0600 that belongs to another user (not root) lets that user in; without a
// token, serve must refuse it.
func TestServeSystemdRefusesAnAdminSocketOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the socket file to another user")
	}
	bin := build(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.Chown(path, 65534, 65534))
	files := adminSocketFiles(t, ln)

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	out, err := activated(ctx, bin, files).CombinedOutput()
	require.Error(t, err, "serve refuses an admin socket another user owns without a token; it said:\n%s", out)
	assert.Contains(t, string(out), "uid 65534")
}
