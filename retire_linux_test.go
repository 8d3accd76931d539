package acceptgate_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/listener"
)

// rejectWithAHandshakeUnderWay makes a gate, without the privilege to lift
// its fence, whose sockets hold a client's handshake under way until it
// sends (TCP_DEFER_ACCEPT), dials one such client, and rejects: the watch
// of the fenced socket goes on counting until that client sends, or for
// an hour.
func rejectWithAHandshakeUnderWay(t *testing.T, opts ...acceptgate.Option) (*acceptgate.Listener, net.Conn) {
	t.Helper()
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	withoutPrivilege(t)
	l := listenTCP(t, append(opts, acceptgate.WithSocketConfig(listener.Config{DeferAccept: time.Minute}))...)
	deferred := dial(t, l.Addr())
	handshakesUnderWay(t, l, 1)
	t.Cleanup(acceptgate.SetSettleTime(time.Hour))
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	return l, deferred
}

// sendAndServed has each client send its index, which completes a handshake
// held until the client sends, and asserts that it gets its echo.
func sendAndServed(t *testing.T, conns ...net.Conn) {
	t.Helper()
	for i, c := range conns {
		_, err := fmt.Fprintf(c, "%d\n", i)
		require.NoError(t, err)
	}
	servedLines(t, conns)
}

// handshakesUnderWay waits until n handshakes are under way on l's address.
func handshakesUnderWay(t *testing.T, l *acceptgate.Listener, n int) {
	t.Helper()
	eventually(t, func() bool {
		got, err := backlog.Handshakes(l)
		return err == nil && got == n
	}, "%d handshakes under way", n)
}

// resumeAtOnce resumes l, failing the test if Resume waits.
func resumeAtOnce(t *testing.T, l *acceptgate.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Resume() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Resume waited for the fenced socket's handshakes")
	}
	assert.Equal(t, acceptgate.Accepting, l.State())
}

// A Resume that must replace a fenced socket binds the new one beside it
// and returns at once, while a handshake is still under way on the fenced
// one: the gate accepts from the new socket at once (new clients are
// served, not refused or kept waiting), and the fenced one still delivers
// the client whose handshake was under way, then closes.
func TestResumeBindsBesideTheFencedSocketAndServesBoth(t *testing.T) {
	l, deferred := rejectWithAHandshakeUnderWay(t)
	before := fdOf(t, l)
	resumeAtOnce(t, l)
	assert.NotEqual(t, before, fdOf(t, l), "the gate still takes from the fenced socket")
	require.True(t, acceptgate.Retiring(l), "the fenced socket closed while a handshake was under way on it")
	serveEcho(t, l)
	sendAndServed(t, dial(t, l.Addr())) // while the fenced socket still waits for its client
	require.True(t, acceptgate.Retiring(l))

	sendAndServed(t, deferred)
	eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced socket to close")
	echoes(t, l, "after it closed")

	// The new socket is no SO_REUSEPORT member: Reject fences it, and
	// Resume replaces it beside it again.
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	assert.Contains(t, l.RejectMethod(), "fenced with")
	resumeAtOnce(t, l)
	echoes(t, l, "after a second Reject and Resume")
}

// Neither the next Reject nor the next Resume waits for a fenced socket
// that still delivers: with a handshake under way on each, a Reject and
// a Resume find two such sockets, and all three clients are served.
func TestRejectAndResumeDoNotWaitForTheFencedSockets(t *testing.T) {
	l, first := rejectWithAHandshakeUnderWay(t)
	resumeAtOnce(t, l)
	second := dial(t, l.Addr()) // its handshake waits on the new socket
	handshakesUnderWay(t, l, 2)
	done := make(chan error, 1)
	go func() { done <- l.Reject() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Reject waited for the fenced socket")
	}
	refused(t, l.Addr())
	resumeAtOnce(t, l)
	serveEcho(t, l)
	sendAndServed(t, first, second, dial(t, l.Addr()))
	eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced sockets to close")
}

// What must start from the gate's own socket alone stops a fenced socket
// that still delivers first: a handoff (its last client is taken out and
// delivered here), and Close (its queue goes, as the gate's does). A
// Pause leaves it: it takes no client while paused, and delivers after.
func TestWhatComesWhileAFencedSocketStillDelivers(t *testing.T) {
	for _, what := range []string{"pause", "hand over", "close"} {
		t.Run(what, func(t *testing.T) {
			l, deferred := rejectWithAHandshakeUnderWay(t)
			resumeAtOnce(t, l)
			require.True(t, acceptgate.Retiring(l))
			_, err := fmt.Fprintf(deferred, "0\n") // into the fenced socket's queue
			require.NoError(t, err)
			switch what {
			case "pause":
				require.NoError(t, l.Pause())
				require.NoError(t, l.Resume())
			case "hand over":
				_, files, err := side(l).Prepare()
				require.NoError(t, err)
				assert.False(t, acceptgate.Retiring(l), "the handoff left the fenced socket to deliver")
				for _, f := range files {
					f.Close()
				}
				side(l).Rollback()
			case "close":
				require.NoError(t, l.Close())
				assert.False(t, acceptgate.Retiring(l))
				refused(t, l.Addr())
				return // and goleak finds no goroutine left
			}
			serveEcho(t, l)
			servedLines(t, []net.Conn{deferred})
			echoes(t, l, "after "+what)
		})
	}
}

// Where the new socket cannot bind beside the fenced one, Resume replaces
// the socket as before: it stops the fenced one and binds in its place.
func TestResumeReplacesInTurnWhereNoSocketBindsBeside(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	withoutPrivilege(t)
	l := listenTCP(t)
	serveEcho(t, l)
	before := fdOf(t, l)
	require.NoError(t, l.Reject())
	failed := arm(t, faults.Beside, 1, syscall.EADDRINUSE)
	require.NoError(t, l.Resume())
	assert.Equal(t, 1, failed())
	assert.False(t, acceptgate.Retiring(l))
	assert.NotEqual(t, before, fdOf(t, l), "no new socket in place of the fenced one")
	echoes(t, l, "after Resume")
}

// A stop of the fenced socket that fails (a shutdown, or an
// accept out of descriptors while its queue is taken out) leaves both
// sockets as they were and tries again: once the step works, every client
// is served, those in the fenced socket's queue included.
func TestAFencedSocketWhoseStopFailsTriesAgain(t *testing.T) {
	for _, step := range []string{faults.Shutdown, faults.Accept} {
		t.Run(step, func(t *testing.T) {
			l, deferred := rejectWithAHandshakeUnderWay(t)
			resumeAtOnce(t, l)
			disarm := arm(t, step, 1, syscall.EMFILE)
			fresh := dial(t, l.Addr())
			_, err := fmt.Fprintf(deferred, "0\n") // into the fenced socket's queue
			require.NoError(t, err)
			_, err = fmt.Fprintf(fresh, "1\n")
			require.NoError(t, err)
			eventually(t, func() bool { return faultsOf(t).Hits(step) > 0 }, "the stop to fail")
			assert.True(t, acceptgate.Retiring(l), "the fenced socket closed after its stop failed")
			disarm() // the next try works
			eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced socket to close")
			serveEcho(t, l)
			servedLines(t, []net.Conn{deferred, fresh})
			echoes(t, l, "after the fenced socket closed")
		})
	}
}

// A stop of the fenced socket that keeps failing closes it after
// settleTime all the same, and says so.
func TestAFencedSocketWhoseStopKeepsFailingClosesInTheEnd(t *testing.T) {
	var logs bytes.Buffer
	l, deferred := rejectWithAHandshakeUnderWay(t, acceptgate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(acceptgate.SetSettleTime(50 * time.Millisecond)) // the fenced socket's bound, from Resume
	resumeAtOnce(t, l)
	failed := arm(t, faults.Shutdown, 1, syscall.EIO)
	serveEcho(t, l)
	fresh := dial(t, l.Addr())
	sendAndServed(t, deferred, fresh)
	eventually(t, func() bool { return !acceptgate.Retiring(l) }, "the fenced socket to close")
	assert.Positive(t, failed())
	assert.Contains(t, logs.String(), "could not stop in order")
	echoes(t, l, "after the fenced socket closed")
}

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
			handshakesUnderWay(t, l, 1)
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
		handshakesUnderWay(t, l, i)
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
