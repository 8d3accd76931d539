package acceptgate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStateString(t *testing.T) {
	for state, want := range map[acceptgate.State]string{
		acceptgate.Accepting: "accepting",
		acceptgate.Paused:    "paused",
		acceptgate.Rejecting: "rejecting",
		acceptgate.Closed:    "closed",
		acceptgate.State(42): "State(42)",
	} {
		assert.Equal(t, want, state.String())
	}
}

func TestListenRefusesUnknownNetwork(t *testing.T) {
	_, err := acceptgate.Listen(context.Background(), "udp", "127.0.0.1:0")
	var unknown net.UnknownNetworkError
	require.ErrorAs(t, err, &unknown)
}

func TestUntrackedGateReturnsTheInnerConn(t *testing.T) {
	l := listenTCP(t)
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	defer r.c.Close()
	_, ok := r.c.(*net.TCPConn)
	assert.True(t, ok, "got %T, want *net.TCPConn", r.c)
}

func TestTrackedConnExposesNetConn(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	defer r.c.Close()
	nc, ok := r.c.(interface{ NetConn() net.Conn })
	require.True(t, ok, "tracked conn %T has no NetConn", r.c)
	_, ok = nc.NetConn().(*net.TCPConn)
	assert.True(t, ok)
	assert.EqualValues(t, 1, l.Stats().Active)
	require.NoError(t, r.c.Close())
	assert.EqualValues(t, 0, l.Stats().Active)
	r.c.Close() // a second Close gives nothing back twice
	assert.EqualValues(t, 0, l.Stats().Active)
}

// TestPauseIsStrict blocks a goroutine in Accept, pauses, and checks that the
// next client stays in the kernel's queue rather than being taken by it.
func TestPauseIsStrict(t *testing.T) {
	l := listenTCP(t)
	if _, ok := kernelQueue(t, l); !ok {
		t.Skip("cannot read the kernel's accept queue here")
	}
	ch := acceptAsync(t, l)
	blockedInKernelAccept(t) // the case Pause has to wake
	require.NoError(t, l.Pause())
	client := dial(t, l.Addr())
	eventually(t, func() bool { n, _ := kernelQueue(t, l); return n == 1 }, "client in the accept queue")
	notYet(t, ch, "Accept while paused")

	require.NoError(t, l.Resume())
	r := receive(t, ch)
	require.NoError(t, r.err)
	defer r.c.Close()
	assert.Equal(t, client.LocalAddr().String(), r.c.RemoteAddr().String())
}

// blockedInKernelAccept waits until some goroutine is blocked in the
// accept of a TCP or unix listener, as its stack shows.
func blockedInKernelAccept(t *testing.T) {
	t.Helper()
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return strings.Contains(stacks, "net.(*TCPListener).accept") || strings.Contains(stacks, "net.(*UnixListener).accept")
	}, "a goroutine blocked in the kernel's accept")
}

// TestPausedClientsAreServedInOrder queues clients while paused, on every
// loopback network, and checks that after Resume each is served, in the
// order it connected, and none is reset.
func TestPausedClientsAreServedInOrder(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			l := listen(t, nw.name, nw.address(t))
			require.NoError(t, l.Pause())
			const clients = 8
			conns := queueClients(t, l, clients)
			assert.EqualValues(t, 0, l.Stats().Accepted)

			require.NoError(t, l.Resume())
			order := make([]string, 0, clients)
			for range clients {
				c, err := l.Accept()
				require.NoError(t, err)
				line, err := bufio.NewReader(c).ReadString('\n')
				require.NoError(t, err)
				order = append(order, strings.TrimSpace(line))
				fmt.Fprintf(c, "served %s", line)
				c.Close()
			}
			for i, c := range conns {
				got, err := io.ReadAll(c)
				require.NoError(t, err, "client %d", i)
				assert.Equal(t, fmt.Sprintf("served %d\n", i), string(got))
			}
			if _, ok := kernelQueue(t, l); ok || nw.name == "unix" {
				assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, order)
			}
			assert.EqualValues(t, clients, l.Stats().Accepted)
		})
	}
}

// TestHTTPServerStaysUpWhilePaused runs a real http.Server behind the gate:
// pausing must not end Serve, a keep-alive connection from before the pause
// keeps getting answers, a new client waits, and Resume serves it.
func TestHTTPServerStaysUpWhilePaused(t *testing.T) {
	l := listenTCP(t)
	url, served := httpHello(t, l)
	keepAlive, fresh := httpClients(t)
	get := func(c *http.Client) (string, error) { return httpGet(c, url) }
	body, err := get(keepAlive)
	require.NoError(t, err)
	require.Equal(t, "hello", body)

	require.NoError(t, l.Pause())
	body, err = get(keepAlive)
	require.NoError(t, err, "keep-alive request while paused")
	assert.Equal(t, "hello", body)
	assert.EqualValues(t, 1, l.Stats().Accepted, "the keep-alive request reused its connection")

	answered := make(chan string, 1)
	go func() {
		b, err := get(fresh)
		if err != nil {
			b = err.Error()
		}
		answered <- b
	}()
	if _, ok := kernelQueue(t, l); ok {
		eventually(t, func() bool { n, _ := kernelQueue(t, l); return n == 1 }, "new client queued")
	}
	notYet(t, answered, "request to a paused server")
	notYet(t, served, "Serve while paused")

	require.NoError(t, l.Resume())
	select {
	case b := <-answered:
		assert.Equal(t, "hello", b)
	case <-time.After(patience):
		t.Fatal("queued client not served after Resume")
	}
}

func TestCloseWorksFromEveryState(t *testing.T) {
	for _, from := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused} {
		t.Run(from.String(), func(t *testing.T) {
			l := listenTCP(t)
			if from == acceptgate.Paused {
				require.NoError(t, l.Pause())
			}
			ch := acceptAsync(t, l)
			if from == acceptgate.Accepting {
				blockedInKernelAccept(t)
			}
			require.NoError(t, l.Close())
			r := receive(t, ch)
			assert.ErrorIs(t, r.err, net.ErrClosed)
			assert.Equal(t, acceptgate.Closed, l.State())

			assert.ErrorIs(t, l.Close(), net.ErrClosed, "second Close")
			_, err := l.Accept()
			assert.ErrorIs(t, err, net.ErrClosed)
			for name, transition := range map[string]func() error{"Pause": l.Pause, "Resume": l.Resume, "Reject": l.Reject} {
				err := transition()
				assert.ErrorIs(t, err, net.ErrClosed, name)
				assert.Equal(t, acceptgate.Closed, l.State(), name)
			}
			_, err = net.DialTimeout("tcp", l.Addr().String(), patience)
			assert.Error(t, err, "dial after Close")
		})
	}
}

func TestRepeatedTransitionsAreNoOps(t *testing.T) {
	var changes []string
	l := listenTCP(t, acceptgate.WithStateHook(func(from, to acceptgate.State) {
		changes = append(changes, from.String()+">"+to.String())
	}))
	require.NoError(t, l.Resume())
	require.NoError(t, l.Pause())
	since := l.Stats().Since
	require.NoError(t, l.Pause())
	assert.Equal(t, acceptgate.Paused, l.State())
	assert.Equal(t, since, l.Stats().Since, "a repeated Pause does not enter the state again")
	require.NoError(t, l.Resume())
	require.NoError(t, l.Resume())
	require.NoError(t, l.Close())
	assert.Equal(t, []string{"accepting>paused", "paused>accepting", "accepting>closed"}, changes)
}

// opaqueListener hides everything but net.Listener, as a tls.Listener does.
type opaqueListener struct{ net.Listener }

func TestRejectWithoutSocketIsUnsupportedAndChangesNothing(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	l := acceptgate.Wrap(opaqueListener{inner})
	defer l.Close()
	for _, from := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused} {
		if from == acceptgate.Paused {
			require.NoError(t, l.Pause())
		}
		err := l.Reject()
		assert.ErrorIs(t, err, errors.ErrUnsupported)
		assert.Equal(t, from, l.State())
	}
	_, err = l.SyscallConn()
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}

func TestMaxConnsLeavesTheRestInTheKernelQueue(t *testing.T) {
	l := listenTCP(t, acceptgate.WithMaxConns(2))
	var held []net.Conn
	for range 2 {
		ch := acceptAsync(t, l)
		dial(t, l.Addr())
		r := receive(t, ch)
		require.NoError(t, r.err)
		held = append(held, r.c)
	}
	assert.EqualValues(t, 2, l.Stats().Active)

	third := acceptAsync(t, l)
	client := dial(t, l.Addr())
	if _, ok := kernelQueue(t, l); ok {
		eventually(t, func() bool { n, _ := kernelQueue(t, l); return n == 1 }, "third client queued")
		assert.Equal(t, 1, l.Stats().Queued, "Stats agrees with the kernel")
		assert.Positive(t, l.Stats().Backlog)
	}
	notYet(t, third, "Accept beyond the limit")

	require.NoError(t, held[0].Close())
	r := receive(t, third)
	require.NoError(t, r.err)
	defer r.c.Close()
	assert.Equal(t, client.LocalAddr().String(), r.c.RemoteAddr().String())
	assert.EqualValues(t, 2, l.Stats().Active)
	held[1].Close()
}

func TestMaxConnsWaiterFollowsPauseAndClose(t *testing.T) {
	l := listenTCP(t, acceptgate.WithMaxConns(1))
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	first := receive(t, ch)
	require.NoError(t, first.err)

	waiting := acceptAsync(t, l) // blocked on the limit
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "acceptgate.(*Listener).acquireSlot")
	}, "Accept waiting for a slot")
	require.NoError(t, l.Pause())
	dial(t, l.Addr())
	require.NoError(t, first.c.Close()) // a free slot must not get past the pause
	if _, ok := kernelQueue(t, l); ok {
		eventually(t, func() bool { n, _ := kernelQueue(t, l); return n == 1 }, "client queued while paused")
	}
	notYet(t, waiting, "Accept while paused with a free slot")
	require.NoError(t, l.Close())
	assert.ErrorIs(t, receive(t, waiting).err, net.ErrClosed)
}

func TestShutdownWaitsForTrackedConns(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)

	done := make(chan error, 1)
	go func() { done <- l.Shutdown(context.Background()) }()
	eventually(t, func() bool { return l.State() == acceptgate.Closed }, "Shutdown closes the listener")
	notYet(t, done, "Shutdown with a connection open")
	require.NoError(t, r.c.Close())
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Shutdown did not return after the last connection closed")
	}
}

func TestShutdownClosesWhatIsLeftWhenCtxIsDone(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ch := acceptAsync(t, l)
	client := dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(ctx) }()
	eventually(t, func() bool { return l.State() == acceptgate.Closed }, "Shutdown closes the listener")
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(patience):
		t.Fatal("Shutdown did not return when its context ended")
	}
	require.NoError(t, client.SetReadDeadline(time.Now().Add(patience)))
	_, err := client.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the server side was closed")
	assert.EqualValues(t, 0, l.Stats().Active)
}

func TestShutdownUntrackedOnlyCloses(t *testing.T) {
	l := listenTCP(t)
	require.NoError(t, l.Shutdown(context.Background()))
	assert.Equal(t, acceptgate.Closed, l.State())
	assert.NoError(t, l.Shutdown(context.Background()), "a second Shutdown")
}

func TestStateHookPanicIsRecovered(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	l := listenTCP(t, acceptgate.WithLogger(logger), acceptgate.WithStateHook(func(from, to acceptgate.State) {
		panic("hook " + to.String())
	}))
	require.NoError(t, l.Pause())
	assert.Equal(t, acceptgate.Paused, l.State())
	require.NoError(t, l.Resume())
	assert.Equal(t, acceptgate.Accepting, l.State())
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logged.String(), "hook paused")
	assert.Contains(t, logged.String(), "to=accepting")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestTransitionsRaceWithAcceptLoseNothing toggles the gate from several
// goroutines while clients keep connecting: every client must be served.
func TestTransitionsRaceWithAcceptLoseNothing(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	serveEcho(t, l)
	stop := make(chan struct{})
	var togglers sync.WaitGroup
	for i := range 4 {
		togglers.Add(1)
		go func() {
			defer togglers.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if rng.IntN(2) == 0 {
					assert.NoError(t, l.Pause())
				} else {
					assert.NoError(t, l.Resume())
				}
			}
		}()
	}
	var clients sync.WaitGroup
	for i := range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for j := range 25 {
				c, err := net.DialTimeout("tcp", l.Addr().String(), patience)
				if !assert.NoError(t, err) {
					return
				}
				got, err := roundTrip(c, fmt.Sprintf("%d-%d", i, j))
				c.Close()
				if !assert.NoError(t, err, "client %d-%d", i, j) {
					return
				}
				assert.Equal(t, fmt.Sprintf("echo: %d-%d\n", i, j), got)
			}
		}()
		// Clients that find the gate paused wait until a toggler resumes it;
		// the final Resume below covers the case where none does.
	}
	togglers.Wait()
	require.NoError(t, l.Resume())
	clients.Wait()
	close(stop)
	assert.EqualValues(t, 8*25, l.Stats().Accepted)
}

// TestAcceptedErrorsPassThrough checks that the wrapped listener's own
// errors, temporary ones included, reach the caller unchanged.
func TestAcceptedErrorsPassThrough(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	inner := &scriptedListener{errs: []error{emfile}}
	l := acceptgate.Wrap(inner)
	_, err := l.Accept()
	assert.Same(t, emfile, err)
	assert.Equal(t, acceptgate.Accepting, l.State())
	require.NoError(t, l.Close())
}

func TestAcceptAllocations(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	for _, tc := range []struct {
		name string
		opts []acceptgate.Option
		want float64
	}{
		{"untracked", nil, 0},
		{"tracked", []acceptgate.Option{acceptgate.WithTracking()}, 1},
		{"max-conns", []acceptgate.Option{acceptgate.WithMaxConns(1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := acceptgate.Wrap(readyListener{server}, tc.opts...)
			defer l.Close()
			allocs := testing.AllocsPerRun(1000, func() {
				c, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				if c != server {
					c.Close() // give the slot back
				}
			})
			assert.Equal(t, tc.want, allocs)
		})
	}
}

func TestStatsCountsTransitionsAndTimeInEachState(t *testing.T) {
	created := time.Now()
	l := listenTCP(t)
	createdAfter := time.Now()
	st := l.Stats()
	assert.Equal(t, [4]uint64{}, st.Entered, "the first state is not entered")
	assert.Positive(t, st.Spent[acceptgate.Accepting], "the current state counts up to the snapshot")

	// Each step records when it was called and returned, which bound the
	// moment its transition happened.
	var calls, returns []time.Time
	step := func(f func() error) {
		calls = append(calls, time.Now())
		require.NoError(t, f())
		returns = append(returns, time.Now())
	}
	step(l.Pause)
	step(l.Pause) // a no-op: enters nothing
	step(l.Reject)
	step(l.Resume)
	step(l.Pause)
	before := l.Stats()
	step(l.Close)
	snapped := time.Now()
	st = l.Stats()
	snappedAfter := time.Now()

	assert.Equal(t, [4]uint64{acceptgate.Accepting: 1, acceptgate.Paused: 2, acceptgate.Rejecting: 1, acceptgate.Closed: 1}, st.Entered)
	// Steps: 0 Pause, 1 Pause, 2 Reject, 3 Resume, 4 Pause, 5 Close.
	rejecting := st.Spent[acceptgate.Rejecting]
	assert.GreaterOrEqual(t, rejecting, calls[3].Sub(returns[2]), "from Reject to Resume")
	assert.LessOrEqual(t, rejecting, returns[3].Sub(calls[2]), "from Reject to Resume")
	var sum time.Duration
	for s, d := range st.Spent {
		assert.GreaterOrEqual(t, d, before.Spent[s], "%v: Spent never decreases", acceptgate.State(s))
		sum += d
	}
	assert.GreaterOrEqual(t, sum, snapped.Sub(createdAfter), "every moment is in one state")
	assert.LessOrEqual(t, sum, snappedAfter.Sub(created), "no moment is in two states")
	assert.GreaterOrEqual(t, st.Spent[acceptgate.Paused], calls[2].Sub(returns[0])+calls[5].Sub(returns[4]), "paused twice")

	// A transition that fails enters nothing.
	assert.ErrorIs(t, l.Pause(), net.ErrClosed)
	assert.Equal(t, st.Entered, l.Stats().Entered)
}
