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
	eventually(t, func() bool {
		n, err := backlog.Handshakes(l)
		return err == nil && n == 1
	}, "the client's handshake under way")
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
	eventually(t, func() bool {
		n, err := backlog.Handshakes(l)
		return err == nil && n == 2
	}, "both handshakes under way")
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
