//go:build unix

package main_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeSystemdAdminOnLoopbackHoldsTheOtherFamily: an admin socket on
// 127.0.0.1:N that systemd passes is held on [::1]:N as ListenAdmin holds
// its own, so that no other local user listens where a browser opening
// localhost:N goes first.
func TestServeSystemdAdminOnLoopbackHoldsTheOtherFamily(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no ::1 here: %v", err)
	} else {
		ln.Close()
	}
	bin := build(t)
	var files []*os.File
	var port int
	for i := range 2 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		f, err := ln.File()
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
		if i == 1 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	startActivated(t, ctx, bin, files)

	stranger, err := net.Listen("tcp6", "[::1]:"+strconv.Itoa(port))
	if err == nil {
		stranger.Close()
	}
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "[::1]:%d is held while serve serves the admin API on 127.0.0.1:%d", port, port)
}
