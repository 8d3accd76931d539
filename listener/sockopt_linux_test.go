package listener_test

import (
	"errors"
	"net"
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

func TestFenceRefusesNewClientsAndKeepsTheQueue(t *testing.T) {
	ln, err := listener.Config{}.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	queued, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer queued.Close()

	unfence, err := listener.Fence(ln)
	if err != nil {
		t.Skip("cannot fence here:", err)
	}
	_, err = net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "refused while fenced")
	taken, err := listener.AcceptQueued(ln)
	require.NoError(t, err)
	require.Len(t, taken, 1, "the queue survived the fence")
	taken[0].Close()

	if err := unfence(); errors.Is(err, syscall.EPERM) {
		t.Skip("lifting a fence needs CAP_NET_RAW")
	} else {
		require.NoError(t, err)
	}
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	require.NoError(t, err, "accepting again once unfenced")
	c.Close()
}

func TestFenceRefusesUnixSockets(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	require.NoError(t, err)
	defer ln.Close()
	_, err = listener.Fence(ln)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
