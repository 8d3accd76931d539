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
// one: new clients connect (to the new socket, not refused) and are served,
// and so is the client whose handshake was under way, from the fenced
// socket, which the new one then takes over from.
func TestResumeBindsBesideTheFencedSocketAndServesBoth(t *testing.T) {
	l, deferred := rejectWithAHandshakeUnderWay(t)
	resumeAtOnce(t, l)
	require.True(t, acceptgate.TakingOver(l), "the new socket took over while a handshake was under way on the fenced one")
	before := fdOf(t, l)

	fresh := dial(t, l.Addr())
	serveEcho(t, l)
	sendAndServed(t, deferred, fresh)
	eventually(t, func() bool { return !acceptgate.TakingOver(l) }, "the new socket to take over")
	assert.NotEqual(t, before, fdOf(t, l), "the gate still accepts from the fenced socket")
	echoes(t, l, "after the take-over")

	// The new socket is no SO_REUSEPORT member: Reject fences it, and
	// Resume replaces it beside it again.
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	assert.Contains(t, l.RejectMethod(), "fenced with")
	resumeAtOnce(t, l)
	echoes(t, l, "after a second Reject and Resume")
}

// What comes while the new socket waits to take over takes over first, so
// that it starts from the new socket: a transition, a handoff, Close. Each
// here finds a handshake still under way on the fenced socket and stops it
// after the (shortened) bound, as any stop does.
func TestWhatComesBeforeTheTakeOverTakesOverFirst(t *testing.T) {
	for _, what := range []string{"pause", "reject", "hand over", "close"} {
		t.Run(what, func(t *testing.T) {
			l, _ := rejectWithAHandshakeUnderWay(t)
			resumeAtOnce(t, l)
			require.True(t, acceptgate.TakingOver(l))
			fresh := dial(t, l.Addr())
			t.Cleanup(acceptgate.SetSettleTime(50 * time.Millisecond))
			before := fdOf(t, l)

			switch what {
			case "pause":
				require.NoError(t, l.Pause())
				assert.NotEqual(t, before, fdOf(t, l), "Pause left the fenced socket in place")
				require.NoError(t, l.Resume())
				assert.False(t, acceptgate.TakingOver(l))
			case "reject":
				require.NoError(t, l.Reject())
				assert.NotEqual(t, before, fdOf(t, l), "Reject left the fenced socket in place")
				refused(t, l.Addr())
				resumeAtOnce(t, l) // beside the new one, which fresh's handshake keeps waiting
			case "hand over":
				_, files, err := side(l).Prepare()
				require.NoError(t, err)
				assert.NotEqual(t, before, fdOf(t, l), "the handoff described the fenced socket")
				for _, f := range files {
					f.Close()
				}
				side(l).Rollback()
			case "close":
				require.NoError(t, l.Close())
				refused(t, l.Addr())
				return // and goleak finds no take-over goroutine left
			}
			serveEcho(t, l)
			sendAndServed(t, fresh)
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
	assert.False(t, acceptgate.TakingOver(l))
	assert.NotEqual(t, before, fdOf(t, l), "no new socket in place of the fenced one")
	echoes(t, l, "after Resume")
}

// A take-over whose stop of the fenced socket fails (a shutdown, or an
// accept out of descriptors while its queue is taken out) leaves both
// sockets as they were and tries again: once the step works, every client
// is served, those in the fenced socket's queue included.
func TestATakeOverWhoseStopFailsTriesAgain(t *testing.T) {
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
			eventually(t, func() bool { return faultsOf(t).Hits(step) > 0 }, "the take-over to fail")
			assert.True(t, acceptgate.TakingOver(l), "the take-over went on after its stop failed")
			disarm() // the next try works
			eventually(t, func() bool { return !acceptgate.TakingOver(l) }, "the take-over")
			serveEcho(t, l)
			servedLines(t, []net.Conn{deferred, fresh})
			echoes(t, l, "after the take-over")
		})
	}
}

// A take-over whose stop keeps failing closes the fenced socket after
// settleTime all the same, and says so: the new socket's clients must not
// wait for it for good.
func TestATakeOverWhoseStopKeepsFailingTakesOverInTheEnd(t *testing.T) {
	var logs bytes.Buffer
	l, deferred := rejectWithAHandshakeUnderWay(t, acceptgate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(acceptgate.SetSettleTime(50 * time.Millisecond)) // the take-over's, from Resume
	resumeAtOnce(t, l)
	failed := arm(t, faults.Shutdown, 1, syscall.EIO)
	serveEcho(t, l)
	fresh := dial(t, l.Addr())
	sendAndServed(t, deferred, fresh)
	eventually(t, func() bool { return !acceptgate.TakingOver(l) }, "the new socket to take over")
	assert.Positive(t, failed())
	assert.Contains(t, logs.String(), "could not stop in order")
	echoes(t, l, "after the take-over")
}
