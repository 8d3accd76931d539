package listener_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/listener"
)

func TestLinuxSocketOptionsAreSet(t *testing.T) {
	cfg := listener.Config{ReusePort: true, ReuseAddr: true, DeferAccept: 1500 * time.Millisecond, FastOpen: 16}
	ln, err := cfg.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	rc, err := ln.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	get := func(level, opt int) int {
		var v int
		var gerr error
		require.NoError(t, rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }))
		require.NoError(t, gerr)
		return v
	}
	assert.Equal(t, 1, get(unix.SOL_SOCKET, unix.SO_REUSEPORT))
	assert.Equal(t, 1, get(unix.SOL_SOCKET, unix.SO_REUSEADDR))
	assert.NotZero(t, get(unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT), "deferred accept, rounded up to whole seconds")
	assert.Equal(t, 16, get(unix.IPPROTO_TCP, unix.TCP_FASTOPEN))
}
