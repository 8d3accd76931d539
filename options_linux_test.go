package acceptgate_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

// The socket options come out the same whatever order they are given in:
// WithReusePort and WithBacklog win over the ReusePort and Backlog of a
// WithSocketConfig before or after them, and the config's other fields
// (TCP_DEFER_ACCEPT here) are kept.
func TestSocketOptionsDoNotDependOnTheirOrder(t *testing.T) {
	const want = 7
	// Config's own ReusePort and Backlog say otherwise, so that a config
	// that replaced the other two options would show on the socket.
	cfg := acceptgate.WithSocketConfig(listener.Config{Backlog: 3, DeferAccept: 5 * time.Second})
	reuse, size := acceptgate.WithReusePort(), acceptgate.WithBacklog(want)
	for _, tc := range []struct {
		name string
		opts []acceptgate.Option
	}{
		{name: "socket config last", opts: []acceptgate.Option{reuse, size, cfg}},
		{name: "socket config first", opts: []acceptgate.Option{cfg, reuse, size}},
		{name: "socket config between", opts: []acceptgate.Option{size, cfg, reuse}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := listenTCP(t, tc.opts...)

			assert.Equal(t, 1, sockoptInt(t, l, unix.SOL_SOCKET, unix.SO_REUSEPORT), "SO_REUSEPORT")
			q, err := backlog.Of(l)
			require.NoError(t, err)
			assert.Equal(t, want, q.Limit, "backlog")
			assert.NotZero(t, sockoptInt(t, l, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT), "TCP_DEFER_ACCEPT")
		})
	}
}

func sockoptInt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var v int
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }))
	require.NoError(t, gerr)
	return v
}
