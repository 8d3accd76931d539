// Package upgradetest holds what the tests of package upgrade and of
// examples/upgrade both need to watch a server upgrade itself: a stand-in
// for systemd's NOTIFY_SOCKET and a load of HTTP clients that records which
// process answered. Only tests import it.
package upgradetest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Notifications is a unix datagram socket standing in for systemd's
// NOTIFY_SOCKET, with every message it receives, in order.
type Notifications struct {
	Addr string // the socket's name, for NOTIFY_SOCKET; "@name" is abstract

	mu  sync.Mutex
	got []string
}

// ListenNotify listens at addr until the test ends.
func ListenNotify(t testing.TB, addr string) *Notifications {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	require.NoError(t, err)
	n := &Notifications{Addr: addr}
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

// All returns the messages received so far.
func (n *Notifications) All() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// WaitFor waits, at most patience, until at least k messages came, and
// returns them.
func (n *Notifications) WaitFor(t testing.TB, k int, patience time.Duration) []string {
	t.Helper()
	Eventually(t, func() bool { return len(n.All()) >= k }, patience, fmt.Sprintf("%d notifications (have %q)", k, n.All()))
	return n.All()
}

// Eventually waits, at most patience, until cond holds.
func Eventually(t testing.TB, cond func() bool, patience time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// Get asks url with c and returns the pid in a 200 answer's body.
func Get(c *http.Client, url string) (int, error) {
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
		return 0, fmt.Errorf("status %d: %q", resp.StatusCode, body)
	}
	m := pidRE.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no pid in %q", body)
	}
	return strconv.Atoi(string(m[1]))
}

// NewClient returns a client that opens a new connection for each request
// and gives up on one after timeout.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// Load asks a URL from several goroutines, a new connection per request,
// until End or maxRequests in all, and records which pid answered.
type Load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[error]
	mu         sync.Mutex
	pids       map[int]int // pid → answers
	stop       chan struct{}
	wg         sync.WaitGroup
	client     *http.Client
}

// StartLoad starts loops goroutines asking url, each request bounded by
// timeout, at most maxRequests in all.
func StartLoad(url string, loops, maxRequests int, timeout time.Duration) *Load {
	l := &Load{pids: map[int]int{}, stop: make(chan struct{}), client: NewClient(timeout)}
	var total atomic.Int64
	for range loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for total.Add(1) <= int64(maxRequests) {
				select {
				case <-l.stop:
					return
				default:
				}
				pid, err := Get(l.client, url)
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

// Seen reports whether pid answered a request.
func (l *Load) Seen(pid int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids[pid] > 0
}

// End stops the load and fails the test if any request went unanswered.
func (l *Load) End(t testing.TB) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.client.CloseIdleConnections()
	var first error
	if p := l.firstErr.Load(); p != nil {
		first = *p
	}
	assert.Zero(t, l.failed.Load(), "requests not answered 200 (first: %v)", first)
	t.Logf("%d requests answered 200 by %d processes", l.ok.Load(), len(l.pids))
}
