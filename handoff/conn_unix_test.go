//go:build unix

package handoff_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// socketpair returns both ends of a SOCK_SEQPACKET socketpair, as a
// process and the child that inherited the other end hold them.
func socketpair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	require.NoError(t, err)
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// Hand and TakeConn run the exchange over a connection, with no offer path:
// the gate moves, a client waiting in its queue is served by the taker, and
// nothing is left in the file system.
func TestHandOverAConnection(t *testing.T) {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer gate.Close()
	addr := gate.Addr().String()
	a, b := socketpair(t)

	handed := make(chan error, 1)
	go func() { handed <- handoff.Hand(context.Background(), a, map[string]*acceptgate.Listener{"http": gate}) }()
	tk, err := handoff.TakeConn(context.Background(), b)
	require.NoError(t, err)
	taken := tk.Listeners()["http"]
	require.NotNil(t, taken)
	stop := serveLines(taken, "new")
	defer stop()
	require.NoError(t, tk.Commit(context.Background()))
	require.NoError(t, <-handed)
	assert.Equal(t, acceptgate.Closed, gate.State())
	got, err := ask("tcp", addr)
	require.NoError(t, err)
	assert.Equal(t, "new:hi\n", got)
}

// A taker that refuses leaves the gates serving where they were, and Hand
// says so with ErrRefused.
func TestHandOverAConnectionRefused(t *testing.T) {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	stop := serveLines(gate, "old")
	defer stop()
	a, b := socketpair(t)
	handed := make(chan error, 1)
	go func() { handed <- handoff.Hand(context.Background(), a, map[string]*acceptgate.Listener{"http": gate}) }()
	tk, err := handoff.TakeConn(context.Background(), b)
	require.NoError(t, err)
	require.NoError(t, tk.Abort())
	assert.ErrorIs(t, <-handed, handoff.ErrRefused)
	got, err := ask("tcp", gate.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, "old:hi\n", got)
}
