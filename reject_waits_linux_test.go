package acceptgate_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// A client that completes its handshake while a Reject waits for
// another one is taken out by the settle loop and handed to Accept at once,
// while the Reject still waits.
func TestSettledClientDeliveredWhileRejectWaits(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember)
	rejected, release := waitingReject(t, g)
	second := dial(t, g.Addr())
	_, err := io.WriteString(second, "second\n")
	require.NoError(t, err)
	r := receive(t, acceptAsync(t, g))
	require.NoError(t, r.err)
	defer r.c.Close()
	notYet(t, rejected, "Reject, still waiting for the first handshake")
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "second\n", line)
	assert.Equal(t, acceptgate.Accepting, g.State())
	release()
	select {
	case err := <-rejected:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Reject did not end")
	}
	r = receive(t, acceptAsync(t, g))
	require.NoError(t, r.err, "the late client is delivered")
	r.c.Close()
}

// Close while a Reject waits for a handshake: Close waits for the
// Reject (both hold opMu), both return, Accept then reports net.ErrClosed
// and delivers nothing after Close returned.
func TestCloseWhileRejectWaits(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember)
	rejected, release := waitingReject(t, g)
	closed := make(chan error, 1)
	go func() { closed <- g.Close() }()
	// Close cannot finish until the Reject does.
	eventually(t, func() bool { return acceptgate.Transiting(g) }, "Reject holds")
	notYet(t, closed, "Close, behind the waiting Reject")
	release()
	for _, ch := range []<-chan error{rejected, closed} {
		select {
		case err := <-ch:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("unexpected error %v", err)
			}
		case <-time.After(patience):
			t.Fatal("Reject or Close did not return")
		}
	}
	r := receive(t, acceptAsync(t, g))
	if r.c != nil {
		r.c.Close()
		t.Fatal("Accept delivered a connection after Close returned")
	}
	require.ErrorIs(t, r.err, net.ErrClosed)
	assert.Equal(t, 0, g.Stats().Pending)
}

// Stats pairs State with Entered and Since consistently while
// transitions and tracked deliveries run concurrently: the Listener starts
// Accepting and only ever goes Accepting->Paused->Accepting, so Paused is
// the state exactly when Entered[Paused] > Entered[Accepting], and Since
// changes exactly when the number of transitions does.
func TestStatsConsistentDuringTransitions(t *testing.T) {
	g := listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithMaxConns(1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			require.NoError(t, g.Pause())
			require.NoError(t, g.Resume())
		}
	}()
	var last acceptgate.Stats
	var lastN uint64
	for i := 0; i < 20000; i++ {
		st := g.Stats()
		p, a := st.Entered[acceptgate.Paused], st.Entered[acceptgate.Accepting]
		require.True(t, p == a || p == a+1, "entered paused %d accepting %d", p, a)
		if p > a {
			require.Equal(t, acceptgate.Paused, st.State, "stats %+v", st)
		} else {
			require.Equal(t, acceptgate.Accepting, st.State, "stats %+v", st)
		}
		n := p + a
		if i > 0 {
			require.Equal(t, n == lastN, st.Since.Equal(last.Since), "Since moves with Entered")
		}
		last, lastN = st, n
	}
	close(stop)
	wg.Wait()
}

// A hook may call every method during a burst of transitions from
// several goroutines, including ones that take opMu, without deadlock.
func TestHookCallsBackDuringTransitions(t *testing.T) {
	var g *acceptgate.Listener
	var mu sync.Mutex
	calls := 0
	ready := make(chan struct{})
	hook := acceptgate.WithStateHook(func(from, to acceptgate.State) {
		<-ready
		_ = g.Stats()
		_ = g.State()
		if to == acceptgate.Paused {
			_ = g.Resume()
		}
		mu.Lock()
		calls++
		mu.Unlock()
	})
	g = listen(t, "tcp4", "127.0.0.1:0", hook)
	close(ready)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_ = g.Pause()
				_ = g.Reject()
				_ = g.Resume()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("transitions with a hook calling back did not finish")
	}
	eventually(t, func() bool { return g.Stats().State == g.State() }, "Stats and State agree at rest")
}

// An Accept already waiting (no slot needed) when the settle loop
// takes a client out of the kernel is woken by addPending.
func TestWaitingAcceptWokenByPendingDuringReject(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember)
	rejected, release := waitingReject(t, g)
	next := acceptAsync(t, g) // waits: the socket is held
	second := dial(t, g.Addr())
	_, err := io.WriteString(second, "second\n")
	require.NoError(t, err)
	r := receive(t, next)
	require.NoError(t, r.err)
	r.c.Close()
	notYet(t, rejected, "Reject, still waiting")
	release()
	require.NoError(t, <-rejected)
}

// With every slot taken, a client the settle loop took out waits
// for a slot; the Close of the tracked connection gives it one and Accept
// delivers it while the Reject still waits (the tracker's wake-up reaches
// a pending delivery waiting for a slot).
func TestSlotFreedDeliversPendingWhileRejectWaits(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember, acceptgate.WithMaxConns(1))
	first := dial(t, g.Addr())
	_, err := io.WriteString(first, "first\n")
	require.NoError(t, err)
	r := receive(t, acceptAsync(t, g))
	require.NoError(t, r.err)
	tracked := r.c
	rejected, release := waitingReject(t, g)
	next := acceptAsync(t, g)
	second := dial(t, g.Addr())
	_, err = io.WriteString(second, "second\n")
	require.NoError(t, err)
	eventually(t, func() bool { return g.Stats().Pending == 1 }, "second client pending")
	notYet(t, next, "Accept, without a slot")
	require.NoError(t, tracked.Close())
	r = receive(t, next)
	require.NoError(t, r.err)
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "second\n", line)
	r.c.Close()
	notYet(t, rejected, "Reject, still waiting")
	release()
	require.NoError(t, <-rejected)
}

// A stop that waited the whole settle time, and so may have reset clients
// whose handshake was still under way, says so in a warning with the
// address; one that found the socket settled logs nothing of the kind.
func TestAStopThatWaitedTheSettleTimeWarns(t *testing.T) {
	defer acceptgate.SetSettleTime(50 * time.Millisecond)()
	for _, tt := range []struct {
		name          string
		silentClient  bool
		wantForcedLog bool
	}{
		{name: "settled", silentClient: false, wantForcedLog: false},
		{name: "a handshake still under way", silentClient: true, wantForcedLog: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logged strings.Builder
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
			g := listen(t, "tcp4", "127.0.0.1:0", deferredMember, acceptgate.WithLogger(logger))
			if tt.silentClient {
				dial(t, g.Addr()) // sends nothing: a handshake under way to a deferring socket
				eventually(t, func() bool {
					n, err := backlog.Handshakes(g)
					return err == nil && n == 1
				}, "the client's handshake under way")
			}
			require.NoError(t, g.Reject())
			mu.Lock()
			defer mu.Unlock()
			out := logged.String()
			if tt.wantForcedLog {
				assert.Contains(t, out, "level=WARN")
				assert.Contains(t, out, "handshakes still under way")
				assert.Contains(t, out, g.Addr().String())
			} else {
				assert.NotContains(t, out, "handshakes still under way")
			}
		})
	}
}
