package acceptgate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// patience bounds every wait in these tests; nothing waits for it to pass
// unless something is broken.
const patience = 10 * time.Second

// network is a loopback network to run a test on.
type network struct {
	name    string // as passed to Listen
	address func(t *testing.T) string
}

func loopbackNetworks(t *testing.T) []network {
	nets := []network{
		{"tcp4", func(*testing.T) string { return "127.0.0.1:0" }},
		{"unix", func(t *testing.T) string { return filepath.Join(t.TempDir(), "gate.sock") }},
	}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		nets = append(nets, network{"tcp6", func(*testing.T) string { return "[::1]:0" }})
	}
	return nets
}

// faultSets holds each test's faults (faultsOf).
var faultSets sync.Map // testing.TB to *faults.Set

// faultsOf returns the faults test t arms with arm, which the gates it
// makes with these helpers (or given withFaults(t)) check: tests that make
// steps fail arm nothing process-wide, and may run in parallel.
func faultsOf(t testing.TB) *faults.Set {
	f, loaded := faultSets.LoadOrStore(t, new(faults.Set))
	if !loaded {
		t.Cleanup(func() { faultSets.Delete(t) })
	}
	return f.(*faults.Set)
}

// withFaults gives a gate test t's faults.
func withFaults(t testing.TB) acceptgate.Option { return acceptgate.WithFaults(faultsOf(t)) }

// arm makes op fail with err from its n-th check on, on the gates test t
// makes, until the test ends or it calls the function returned, which
// reports how many checks failed.
func arm(t testing.TB, op string, n int, err error) (disarm func() int) {
	t.Helper()
	d := faultsOf(t).Arm(op, n, err)
	t.Cleanup(func() { d() })
	return d
}

func listen(t *testing.T, nw, address string, opts ...acceptgate.Option) *acceptgate.Listener {
	t.Helper()
	l, err := acceptgate.Listen(context.Background(), nw, address, append(opts, withFaults(t))...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func listenTCP(t *testing.T, opts ...acceptgate.Option) *acceptgate.Listener {
	t.Helper()
	return listen(t, "tcp4", "127.0.0.1:0", opts...)
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually waits until cond holds, failing the test after patience.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: "+format, args...)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

type acceptResult struct {
	c   net.Conn
	err error
}

// acceptAsync calls Accept once in a goroutine that the test waits for.
func acceptAsync(t *testing.T, l net.Listener) <-chan acceptResult {
	t.Helper()
	ch := make(chan acceptResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		select {
		case r := <-ch: // never received by the test
			if r.c != nil {
				r.c.Close()
			}
		default:
		}
	})
	return ch
}

func receive(t *testing.T, ch <-chan acceptResult) acceptResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(patience):
		t.Fatal("Accept did not return")
		return acceptResult{}
	}
}

// notYet asserts that nothing has arrived on ch.
func notYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %v too early", what, v)
	default:
	}
}

// serveEcho answers every line a client sends with "echo: " and the line,
// until the listener is closed. The test waits for it and every handler.
func serveEcho(t *testing.T, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var served []net.Conn // closed at the end, so that a test that failed with clients open ends
	ended := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Accept: %v", err)
				}
				return
			}
			mu.Lock()
			served = append(served, c)
			if ended {
				c.Close()
			}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "echo: %s", line)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		ended = true
		for _, c := range served {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// roundTrip sends one line and returns the answer.
func roundTrip(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(patience)); err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// queueClients connects n clients to a paused l, each sending its index on a
// line. Where the kernel's queue can be read, it waits for each client to be
// queued before the next connects, so that their order is defined.
func queueClients(t *testing.T, l *acceptgate.Listener, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, l.Addr())
		fmt.Fprintf(conns[i], "%d\n", i)
		if _, ok := kernelQueue(t, l); ok {
			eventually(t, func() bool { q, _ := kernelQueue(t, l); return q == i+1 }, "client %d queued", i)
		}
	}
	return conns
}

// httpHello serves "hello" with a real http.Server behind l until the test
// ends, and then checks that Serve returned only because the server was
// closed. It returns the URL and where Serve's result arrives.
func httpHello(t *testing.T, l net.Listener) (url string, served <-chan error) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	result := make(chan error, 1)
	go func() { result <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		assert.ErrorIs(t, <-result, http.ErrServerClosed)
	})
	return "http://" + l.Addr().String() + "/", result
}

// httpGet fetches url with c and returns the body.
func httpGet(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// httpClients returns a client that keeps its connection alive and one that
// opens a new connection for every request.
func httpClients(t *testing.T) (keepAlive, fresh *http.Client) {
	keepAlive = &http.Client{Transport: &http.Transport{}, Timeout: patience}
	t.Cleanup(keepAlive.CloseIdleConnections)
	return keepAlive, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: patience}
}

// canFence reports whether a TCP socket on loopback can be fenced here.
func canFence(t *testing.T) bool {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = sockets.Fence(ln)
	return err == nil
}

// kernelQueue returns how many connections wait in l's accept queue, as the
// kernel counts them, and whether it could tell (package backlog's tests
// check its figures against ss).
func kernelQueue(t *testing.T, l *acceptgate.Listener) (int, bool) {
	t.Helper()
	q, err := backlog.Of(l)
	if err != nil {
		return 0, false
	}
	return q.Len, true
}

// onLinux is set where the tests can read the accept queue and Reject keeps
// the descriptor.
const onLinux = runtime.GOOS == "linux"

// side is a gate's side of a handoff, as package handoff reaches it, but
// for Prepare's descriptors, which it gives as the Files Adopt takes.
func side(g *acceptgate.Listener) testSide {
	s, ok := handover.Of(g)
	if !ok {
		panic("a gate without a side of a handoff")
	}
	return testSide{s}
}

type testSide struct{ handover.Gate }

func (s testSide) Prepare() (handover.Socket, []*os.File, error) {
	hs, fds, err := s.Gate.Prepare()
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "prepared")
	}
	return hs, files, err
}

// adopt makes a gate for a socket another gate prepared, with no options
// but the faults test t arms.
func adopt(t testing.TB, hs handover.Socket, files []*os.File) (*acceptgate.Listener, error) {
	var g *acceptgate.Listener
	_, err := handover.Adopt(hs, files, func(ln net.Listener) net.Listener {
		g = acceptgate.Wrap(ln, withFaults(t))
		return g
	})
	return g, err
}
