package acceptgate_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

// While the fenced socket Resume replaced still delivers its last clients,
// new clients wait in the new socket's queue, the gate's: Stats counts them
// (the metrics' queue length, a drain's "queued").
func TestStatsCountTheQueueOfTheSocketBoundBeside(t *testing.T) {
	l, _ := rejectWithAHandshakeUnderWay(t)
	resumeAtOnce(t, l)
	require.True(t, acceptgate.Retiring(l))
	for range 2 {
		_, err := dial(t, l.Addr()).Write([]byte("0\n")) // past TCP_DEFER_ACCEPT, into the queue
		require.NoError(t, err)
	}
	eventually(t, func() bool { return l.Stats().Queued == 2 },
		"Stats to count the 2 clients waiting in the new socket's queue (Queued %d)", l.Stats().Queued)
}

// A Pause from Rejecting that binds the new socket beside the fenced one
// takes nothing from the kernel once it returned: the fenced socket's
// last client, whose handshake completes while paused, waits in its queue
// until Resume, which delivers it.
func TestPauseFromRejectingBesideTakesNothingUntilResume(t *testing.T) {
	l, deferred := rejectWithAHandshakeUnderWay(t)
	require.NoError(t, l.Pause())
	assert.Equal(t, acceptgate.Paused, l.State())
	_, err := deferred.Write([]byte("0\n")) // completes its handshake
	require.NoError(t, err)
	eventually(t, func() bool { w, _ := acceptgate.SettleWatch(l); return !w }, "the watch to find the handshake done")
	assert.Zero(t, l.Stats().Pending, "the fenced socket's client was taken out of the kernel while paused")
	assert.True(t, acceptgate.Retiring(l), "the fenced socket stopped while paused")

	require.NoError(t, l.Resume())
	serveEcho(t, l)
	servedLines(t, []net.Conn{deferred})
	echoes(t, l, "after Resume")
}

// The same over IPv6, on [::1] and on a dual-stack [::] socket, reached
// from both families.
func TestResumeBindsBesideOverIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback")
	} else {
		ln.Close()
	}
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	for _, tc := range []struct{ nw, addr string }{{"tcp6", "[::1]:0"}, {"tcp", "[::]:0"}} {
		t.Run(tc.addr, func(t *testing.T) {
			withoutPrivilege(t)
			l := listen(t, tc.nw, tc.addr, acceptgate.WithSocketConfig(listener.Config{DeferAccept: time.Minute}))
			port := l.Addr().(*net.TCPAddr).Port
			to := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
			targets := []net.Addr{to("::1")}
			if tc.nw == "tcp" {
				targets = append(targets, to("127.0.0.1"))
			}
			deferred := dial(t, targets[0])
			eventually(t, func() bool { n, err := backlog.Handshakes(l); return err == nil && n == 1 }, "the handshake under way")
			t.Cleanup(acceptgate.SetSettleTime(time.Hour))
			require.NoError(t, l.Reject())
			for _, a := range targets {
				refused(t, a)
			}
			resumeAtOnce(t, l)
			require.True(t, acceptgate.Retiring(l))
			conns := []net.Conn{deferred}
			for _, a := range targets {
				conns = append(conns, dial(t, a))
			}
			serveEcho(t, l)
			sendAndServed(t, conns...)
			eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced socket to close")
			for _, a := range targets {
				got, err := roundTrip(dial(t, a), "x")
				require.NoError(t, err)
				assert.Equal(t, "echo: x\n", got)
			}
		})
	}
}

// Stats counts the clients waiting in the queue of a fenced socket that
// still delivers as queued too: while paused, the fenced socket's last
// client, whose handshake completed, waits there until Resume, and a
// drain or a metric that reads Queued 0 and Pending 0 would take it for
// nobody.
func TestStatsCountTheQueueOfARetiringSocket(t *testing.T) {
	l, deferred := rejectWithAHandshakeUnderWay(t)
	require.NoError(t, l.Pause())
	_, err := deferred.Write([]byte("0\n")) // completes its handshake, into the fenced socket's queue
	require.NoError(t, err)
	eventually(t, func() bool { w, _ := acceptgate.SettleWatch(l); return !w }, "the watch to find the handshake done")
	require.True(t, acceptgate.Retiring(l))
	st := l.Stats()
	assert.Zero(t, st.Pending)
	assert.Equal(t, 1, st.Queued, "Stats misses the client in the fenced socket's queue")

	require.NoError(t, l.Resume())
	serveEcho(t, l)
	servedLines(t, []net.Conn{deferred})
}

// Reject and Resume repeated with a handshake under way each time leave
// several fenced sockets delivering at once, each bound beside the next:
// every client is served, new ones too, and they all close in the end.
func TestManyFencedSocketsRetireAtOnce(t *testing.T) {
	l, first := rejectWithAHandshakeUnderWay(t)
	deferred := []net.Conn{first}
	resumeAtOnce(t, l)
	for i := 2; i <= 4; i++ {
		deferred = append(deferred, dial(t, l.Addr()))
		eventually(t, func() bool {
			n, err := backlog.Handshakes(l)
			return err == nil && n == i
		}, "%d handshakes under way", i)
		require.NoError(t, l.Reject())
		refused(t, l.Addr())
		resumeAtOnce(t, l)
	}
	serveEcho(t, l)
	echoes(t, l, "beside four fenced sockets")
	sendAndServed(t, append(deferred, dial(t, l.Addr()))...)
	eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced sockets to close")
	echoes(t, l, "after they closed")
}

// With WithMaxConns and every slot taken when the fenced socket's last
// client comes, that client waits pending for a slot, not in vain: the
// connection closed frees the slot and Accept delivers it.
func TestARetiringSocketsClientWaitsForASlot(t *testing.T) {
	l, deferred := rejectWithAHandshakeUnderWay(t, acceptgate.WithMaxConns(1))
	resumeAtOnce(t, l)
	serveEcho(t, l)
	held := dial(t, l.Addr())
	got, err := roundTrip(held, "held") // holds the one slot, open
	require.NoError(t, err)
	require.Equal(t, "echo: held\n", got)
	_, err = deferred.Write([]byte("0\n"))
	require.NoError(t, err)
	eventually(t, func() bool { return l.Stats().Pending == 1 }, "the fenced socket's client taken out, pending")
	held.Close()
	servedLines(t, []net.Conn{deferred})
	eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced socket to close")
}
