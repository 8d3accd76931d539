//go:build unix

package upgrade

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// patience bounds every wait; nothing waits that long unless something broke.
const patience = 20 * time.Second

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "up")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// notifications is a unix datagram socket standing in for systemd's
// NOTIFY_SOCKET, keeping what it receives in order.
type notifications struct {
	addr string
	mu   sync.Mutex
	got  []string
}

func listenNotify(t *testing.T, addr string) *notifications {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	require.NoError(t, err)
	n := &notifications{addr: addr}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.got = append(n.got, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

func (n *notifications) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

func (n *notifications) waitFor(t *testing.T, k int) []string {
	t.Helper()
	eventually(t, func() bool { return len(n.all()) >= k }, fmt.Sprintf("%d notifications (have %q)", k, n.all()))
	return n.all()
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// get asks url on a new connection and returns the pid in the answer.
func get(url string) (int, error) {
	c := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	m := pidRE.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no pid in %q", body)
	}
	return strconv.Atoi(string(m[1]))
}

// load asks url from loops goroutines, a new connection per request, until
// end; bounded in count and time.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[error]
	mu         sync.Mutex
	pids       map[int]int
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url string, loops int) *load {
	const maxRequests = 200_000
	l := &load{pids: map[int]int{}, stop: make(chan struct{})}
	var total atomic.Int64
	for range loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for total.Add(1) <= maxRequests {
				select {
				case <-l.stop:
					return
				default:
				}
				pid, err := get(url)
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.pids[pid]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) seen(pid int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids[pid] > 0
}

func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	var first error
	if p := l.firstErr.Load(); p != nil {
		first = *p
	}
	assert.Zero(t, l.failed.Load(), "requests not answered 200 (first: %v)", first)
	t.Logf("%d requests answered by %d processes", l.ok.Load(), len(l.pids))
}

// generation is this test process as a server's generation: an Upgrader
// with one gate on loopback, served by an http.Server answering pid=.
type generation struct {
	u    *Upgrader
	gate *acceptgate.Listener
	url  string
	done chan struct{}
}

// startGeneration makes this process a generation whose next one is the
// test binary in mode (see child), with the environment the test set.
func startGeneration(t *testing.T, mode string, opts Options) *generation {
	t.Helper()
	t.Setenv(modeEnv, mode)
	t.Setenv(addrEnv, "127.0.0.1:0")
	u, err := New(opts)
	require.NoError(t, err)
	g, err := u.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
	})}
	gen := &generation{u: u, gate: g, url: "http://" + g.Addr().String() + "/", done: make(chan struct{})}
	go func() { defer close(gen.done); srv.Serve(g) }()
	t.Cleanup(func() {
		u.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		srv.SetKeepAlivesEnabled(false)
		g.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-gen.done
	})
	return gen
}

// servesHere checks that this process answers.
func (g *generation) servesHere(t *testing.T) {
	t.Helper()
	pid, err := get(g.url)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)
	assert.Equal(t, acceptgate.Accepting, g.gate.State())
}

// reportLine waits for a line of the report file starting with prefix.
func reportLine(t *testing.T, path, prefix string) string {
	t.Helper()
	var found string
	eventually(t, func() bool {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				found = l
				return true
			}
		}
		return false
	}, fmt.Sprintf("a report line %q in %s", prefix, path))
	return found
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
