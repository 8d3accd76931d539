//go:build unix

package control_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestPrivateDirSocket checks the way other Unix systems make the admin
// socket private (it works on Linux too): bound inside a 0700 directory,
// made 0600, linked at its path; the temporary directory is gone, the
// listener reports and removes the path, and it never replaces a file.
func TestPrivateDirSocket(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := control.ListenViaPrivateDir(context.Background(), path)
	require.NoError(t, err)
	assertMode(t, path, 0o600)
	assert.Equal(t, path, ln.Addr().String())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary directory is gone")

	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", path)
	require.NoError(t, err, "clients connect through the linked path")
	c.Close()
	require.NoError(t, <-accepted)

	_, err = control.ListenViaPrivateDir(context.Background(), path)
	assert.ErrorIs(t, err, os.ErrExist, "link does not replace what is there")
	require.NoError(t, ln.Close())
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "Close removes the path")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	ln.Close()
	_, err = os.Lstat(path)
	assert.NoError(t, err, "a second Close removes nothing")
}
