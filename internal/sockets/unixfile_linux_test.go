package sockets_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// LeadsTo tells a unix socket's own file from another socket's at the same
// path and follows its file where it is renamed; of a socket bound to no
// file it cannot say.
func TestLeadsToTellsTheSocketsOwnFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	defer ln.Close()
	leads := func(ln net.Listener, path string) bool {
		t.Helper()
		ok, err := sockets.LeadsTo(ln, path)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, leads(ln, path), "its own file")

	moved := filepath.Join(dir, "moved.sock")
	require.NoError(t, os.Rename(path, moved))
	assert.True(t, leads(ln, moved), "its own file, renamed")
	other, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer other.Close()
	assert.False(t, leads(ln, path), "another socket's file at its old path")
	assert.True(t, leads(other, path))

	_, err = sockets.LeadsTo(ln, filepath.Join(dir, "none"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no file there")

	abstract, err := net.Listen("unix", "@acceptgate-leadsto-"+filepath.Base(dir))
	require.NoError(t, err)
	defer abstract.Close()
	_, err = sockets.LeadsTo(abstract, path)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "an abstract socket has no file")
}
