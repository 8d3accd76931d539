package acceptgate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/internal/wire"
	"github.com/acceptgate/acceptgate/listener"
)

// The tests in this file run the gate in a network namespace of their own
// and its clients in another, a round trip of 20 ms apart (package
// internal/wire): there a handshake spans a round trip instead of the
// microseconds it takes on loopback, which is where a client can have
// connected while the socket it connected to stops listening.

const wireRTT = 20 * time.Millisecond

// newWire builds a wire with a round trip of wireRTT, or skips the test
// where one cannot be built (not root, no /dev/net/tun, not Linux).
func newWire(t *testing.T, spare bool) *wire.Wire {
	t.Helper()
	w, err := wire.New(wire.Config{Delay: wireRTT / 2, Spare: spare})
	if wire.CannotBuild(err) {
		t.Skipf("needs a wire between two network namespaces (root, /dev/net/tun): %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		w.Close()
		sockets.ForgetInterfaces() // it may list the server's namespace
	})
	return w
}

// inServer runs a gate call where the server lives, as a server process in
// that namespace would: the fence lists that namespace's interfaces, and
// sock_diag counts its handshakes.
func inServer(t *testing.T, w *wire.Wire, f func() error) error {
	t.Helper()
	return w.Server(func() error {
		sockets.ForgetInterfaces()
		return f()
	})
}

// boundDevice returns the interface l's socket is bound to: the fence's
// interface while it is fenced, "" otherwise.
func boundDevice(t *testing.T, l *acceptgate.Listener) string {
	t.Helper()
	rc, err := l.SyscallConn()
	require.NoError(t, err)
	var dev string
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		dev, gerr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	}))
	require.NoError(t, gerr)
	return dev
}

// wireCounts is what the clients of a wire test saw.
type wireCounts struct {
	connected, served, refused, reset, other atomic.Int64
	mu                                       sync.Mutex
	resets                                   []wireReset
}

// wireReset is a client reset after its connect succeeded.
type wireReset struct {
	connected time.Time
	how       string
}

// wireClients runs loops of clients across w, each connecting, sending a
// line and reading its echo, until stop is closed; they are bounded by
// patience each.
func wireClients(t *testing.T, w *wire.Wire, addr string, loops int, stop <-chan struct{}) (*wireCounts, *sync.WaitGroup) {
	var c wireCounts
	var wg sync.WaitGroup
	for i := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), patience)
				conn, err := w.Dial(ctx, "tcp4", addr)
				cancel()
				if err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) {
						c.refused.Add(1)
					} else {
						c.other.Add(1)
						t.Errorf("connect: %v", err)
					}
					continue
				}
				c.connected.Add(1)
				connected := time.Now()
				line := fmt.Sprintf("%d.%d", i, n)
				got, err := roundTrip(conn, line)
				conn.Close()
				switch {
				case err == nil && got == "echo: "+line+"\n":
					c.served.Add(1)
				default:
					c.reset.Add(1)
					c.mu.Lock()
					c.resets = append(c.resets, wireReset{connected, fmt.Sprintf("%q, %v", got, err)})
					c.mu.Unlock()
				}
			}
		}()
	}
	return &c, &wg
}

// TestNoResetAcrossARoundTrip flips a gate between a state and accepting
// while clients 20 ms away connect continuously (16 loops, a few hundred
// connections a second): no client whose connect succeeded may be reset,
// whichever way the gate turns clients away.
func TestNoResetAcrossARoundTrip(t *testing.T) {
	const (
		loops = 16
		flips = 20
		each  = 12 // clients refused, or served, before the gate moves on
	)
	for _, tc := range []struct {
		name  string
		spare bool // an interface that stays down: the fence can be put up
		setup func(t *testing.T)
		flip  func(*acceptgate.Listener) error
		fence string // the interface the socket is bound to while rejecting
	}{
		{name: "pause", flip: (*acceptgate.Listener).Pause},
		// Reject fences the socket (SO_BINDTODEVICE to the down
		// interface) and Resume lifts the fence.
		{name: "reject/fenced", spare: true, flip: (*acceptgate.Listener).Reject, fence: "spare0"},
		// Without CAP_NET_RAW the gate fences the socket it made and, since
		// it cannot lift the fence, Resume lets its handshakes settle and
		// replaces it.
		{name: "reject/unprivileged", spare: true, setup: withoutPrivilege, flip: (*acceptgate.Listener).Reject, fence: "spare0"},
		// With no interface to fence with (as in a namespace with only lo,
		// or a socket others hold and this process may not lift a fence
		// on), Reject stops the socket once no handshake is under way.
		{name: "reject/stopped", flip: (*acceptgate.Listener).Reject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(t, tc.spare)
			if tc.setup != nil {
				tc.setup(t)
			}
			var l *acceptgate.Listener
			require.NoError(t, inServer(t, w, func() (err error) {
				l, err = acceptgate.Listen(context.Background(), "tcp4", wire.ServerIP+":0")
				return err
			}))
			serveEcho(t, l)
			addr := l.Addr().String()

			stop := make(chan struct{})
			c, clients := wireClients(t, w, addr, loops, stop)
			defer func() { close(stop); clients.Wait() }()
			defer func() {
				if t.Failed() {
					t.Logf("clients: %d connected, %d served, %d refused, %d reset; wire %+v",
						c.connected.Load(), c.served.Load(), c.refused.Load(), c.reset.Load(), w.Stats())
				}
			}()
			start := time.Now()
			var calls []window // of the flips

			// Each state lasts until enough clients have met it: in
			// accepting, served; paused, connected (to wait in the queue);
			// rejecting, refused.
			seen := func(n *atomic.Int64) func() bool {
				from := n.Load()
				return func() bool { return n.Load() >= from+each }
			}
			// A paused gate is met once every loop waits in its queue.
			// Counting connects since the call instead would depend on how
			// many loops had connected and were not yet accepted when it
			// came (about a quarter of them, more on a loaded machine).
			allWaiting := func() bool {
				connected := c.connected.Load() // first: the difference never overstates
				return connected-c.served.Load()-c.reset.Load() == loops
			}
			for range flips {
				met := allWaiting
				if tc.name != "pause" {
					met = seen(&c.refused)
				}
				began := time.Now()
				require.NoError(t, inServer(t, w, func() error { return tc.flip(l) }))
				calls = append(calls, window{began, time.Now()})
				if tc.fence != "" {
					assert.Equal(t, tc.fence, boundDevice(t, l), "rejecting by the fence")
				}
				eventually(t, met, "clients meet %s", tc.name)
				served := seen(&c.served)
				require.NoError(t, inServer(t, w, l.Resume))
				eventually(t, served, "%d clients served after Resume", each)
			}
			close(stop)
			clients.Wait()
			stop = make(chan struct{}) // for the deferred close
			elapsed := time.Since(start)

			// Without a fence, Reject can only wait for a moment when no
			// handshake is under way and then stop the socket: a client
			// whose SYN arrives between that check and the stop has its
			// handshake reset when its final ACK arrives (the kernel keeps
			// the half-open request, but finds no listener to complete it
			// into and answers the ACK with a RST), and one still under way
			// after SettleTime is reset too.
			// On a loaded machine a thread preempted between the two
			// stretches the microseconds to milliseconds. A reset is
			// allowed there only. Such a client's SYN reached the server
			// after the call began (the check counts handshakes already
			// under way), so its connect succeeded half a round trip later
			// at the earliest: from a half round trip after the call began
			// to a round trip after it ended. A Reject that stopped its
			// socket without waiting for the handshakes under way resets
			// clients whose connect succeeded up to half a round trip
			// before it stopped, which this window does not excuse.
			forced := 0
			var slowest time.Duration
			for _, r := range calls {
				slowest = max(slowest, r.to.Sub(r.from))
				if r.to.Sub(r.from) >= acceptgate.SettleTime() {
					forced++
				}
			}
			t.Logf("%s over %v RTT: %d connected (%.0f connects/s), %d served, %d refused, %d reset; %d of %d calls waited out %v (slowest %v); wire %+v",
				tc.name, wireRTT, c.connected.Load(), float64(c.connected.Load()+c.refused.Load())/elapsed.Seconds(),
				c.served.Load(), c.refused.Load(), c.reset.Load(), forced, len(calls), acceptgate.SettleTime(),
				slowest.Round(time.Millisecond), w.Stats())
			for _, r := range c.resets {
				excused := false
				for _, call := range calls {
					if tc.name == "reject/stopped" && r.connected.After(call.from.Add(wireRTT/2)) && r.connected.Before(call.to.Add(wireRTT)) {
						excused = true
					}
				}
				assert.True(t, excused, "client reset after its connect succeeded at %v: %s", r.connected.Sub(start), r.how)
			}
			assert.Zero(t, c.other.Load(), "connects that failed otherwise than refused")
			if tc.name == "pause" {
				assert.Zero(t, c.refused.Load(), "refused while the gate only paused")
			}
		})
	}
}

// The count of handshakes that a fenced socket's Resume relies on is made
// in the socket's network namespace, not in the one the count's goroutine
// happens to run in: with a client's handshake under way on a server in
// its own namespace (a TCP_DEFER_ACCEPT client that has sent nothing), the
// watch that Reject starts does not find the socket settled, and Resume
// then counts for itself.
func TestTheWatchCountsInTheSocketsNamespace(t *testing.T) {
	w := newWire(t, true)
	withoutPrivilege(t)
	var l *acceptgate.Listener
	require.NoError(t, inServer(t, w, func() (err error) {
		l, err = acceptgate.Listen(context.Background(), "tcp4", wire.ServerIP+":0",
			acceptgate.WithSocketConfig(listener.Config{DeferAccept: time.Minute}), withFaults(t))
		return err
	}))
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := w.Dial(ctx, "tcp4", l.Addr().String())
	require.NoError(t, err)
	defer c.Close() // sends nothing: its handshake stays under way
	eventually(t, func() bool {
		var n int
		inServer(t, w, func() (err error) { n, err = backlog.Handshakes(l); return err })
		return n == 1
	}, "the client's handshake under way on the server")

	defer acceptgate.SetSettleTime(time.Hour)() // the watch's bound
	require.NoError(t, inServer(t, w, l.Reject))
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) { // long enough for a count from the wrong namespace to end
		watching, settled := acceptgate.SettleWatch(l)
		require.False(t, settled, "the watch found no handshake under way")
		require.True(t, watching, "the watch ended")
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	acceptgate.SetSettleTime(50 * time.Millisecond) // Resume's own, then forced
	require.NoError(t, inServer(t, w, l.Resume))
}
