package acceptgate_test

import (
	"bufio"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

// waitingReject starts a Reject of a member of an SO_REUSEPORT group (which
// stops listening rather than being fenced) while a TCP_DEFER_ACCEPT client
// that has sent nothing keeps a handshake under way: the Reject waits for it
// until the returned release makes the client send its line. It returns
// once the Reject holds the Listener, with the channel its error arrives on.
func waitingReject(tb testing.TB, g *acceptgate.Listener) (done <-chan error, release func()) {
	tb.Helper()
	c, err := net.DialTimeout("tcp4", g.Addr().String(), patience)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(patience)
	for {
		n, err := backlog.Handshakes(g)
		require.NoError(tb, err)
		if n == 1 {
			break
		}
		require.True(tb, time.Now().Before(deadline), "the client's handshake under way")
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	ch := make(chan error, 1)
	finished := make(chan struct{})
	go func() { ch <- g.Reject(); close(finished) }()
	var once bool
	release = func() {
		if !once {
			once = true
			_, err := io.WriteString(c, "late\n")
			require.NoError(tb, err)
		}
	}
	tb.Cleanup(func() { release(); <-finished })
	for !acceptgate.Transiting(g) {
		select {
		case err := <-ch:
			tb.Fatalf("Reject returned before the test saw it under way: %v", err)
		default:
		}
		require.True(tb, time.Now().Before(deadline), "Reject under way")
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	return ch, release
}

// deferredMember is the socket config of a group member whose clients stay
// handshakes under way until they send something.
var deferredMember = acceptgate.WithSocketConfig(listener.Config{ReusePort: true, DeferAccept: time.Minute})

// While a Reject waits for a handshake, Stats, State and the Close of a
// tracked connection (which gives a slot back to an Accept waiting for it)
// do not wait with it: they touch state and counters, not the socket. The
// Reject is held until the test lets the handshake complete, after they
// have all returned; the client is then delivered, not reset.
func TestReadsAndConnCloseDoNotWaitForATransition(t *testing.T) {
	defer acceptgate.SetSettleTime(2 * patience)()
	g := listen(t, "tcp4", "127.0.0.1:0", deferredMember, acceptgate.WithMaxConns(1))
	first := dial(t, g.Addr())
	_, err := io.WriteString(first, "first\n")
	require.NoError(t, err)
	r := receive(t, acceptAsync(t, g))
	require.NoError(t, r.err)
	tracked := r.c
	next := acceptAsync(t, g) // waits for the slot tracked holds

	rejected, release := waitingReject(t, g)
	done := make(chan [2]acceptgate.Stats, 1)
	go func() {
		before := g.Stats()
		_ = g.State()
		tracked.Close()
		done <- [2]acceptgate.Stats{before, g.Stats()}
	}()
	select {
	case st := <-done:
		assert.Equal(t, int64(1), st[0].Active)
		assert.Equal(t, acceptgate.Accepting, st[0].State, "the state being left, while Reject works")
		assert.Equal(t, int64(0), st[1].Active, "the tracked connection's slot is given back")
	case err := <-rejected:
		t.Fatalf("Reject returned (%v) before Stats, State and Close did", err)
	case <-time.After(patience):
		t.Fatal("Stats, State or a tracked connection's Close waited for Reject")
	}
	notYet(t, rejected, "Reject, still waiting for the handshake")
	assert.Equal(t, acceptgate.Accepting, g.State())

	release()
	select {
	case err := <-rejected:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Reject did not end once the handshake completed")
	}
	assert.Equal(t, acceptgate.Rejecting, g.State())
	r = receive(t, next)
	require.NoError(t, r.err, "the client whose handshake Reject waited for is delivered")
	defer r.c.Close()
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "late\n", line)
}

// BenchmarkStatsDuringReject reports the latency of Stats, at the 99th
// percentile, while a Reject of a group member waits for a handshake under
// way (as long as settleTime, a second). Only calls made while the Reject
// still waited count.
func BenchmarkStatsDuringReject(b *testing.B) {
	g, err := acceptgate.Listen(b.Context(), "tcp4", "127.0.0.1:0", deferredMember)
	require.NoError(b, err)
	b.Cleanup(func() { g.Close() })
	rejected, release := waitingReject(b, g)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		g.Stats()
		took := time.Since(start)
		select {
		case err := <-rejected:
			require.NoError(b, err)
			rejected = nil // the rest count no more
		default:
		}
		if rejected != nil || len(lat) == 0 {
			lat = append(lat, took)
		}
	}
	b.StopTimer()
	release()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
