package main

import (
	"bufio"
	"errors"
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
	"golang.org/x/sys/unix"
)

// patience bounds every wait; nothing waits that long unless something broke.
const patience = 20 * time.Second

// notifications is a unix datagram socket standing in for systemd's
// NOTIFY_SOCKET, with every message it receives, in order.
type notifications struct {
	addr string
	c    *net.UnixConn
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func listenNotify(t *testing.T, addr string) *notifications {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	require.NoError(t, err)
	n := &notifications{addr: addr, c: c, done: make(chan struct{})}
	go func() {
		defer close(n.done)
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
	t.Cleanup(func() { c.Close(); <-n.done })
	return n
}

func (n *notifications) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// waitFor waits until the messages received number at least k.
func (n *notifications) waitFor(t *testing.T, k int) []string {
	t.Helper()
	eventually(t, func() bool { return len(n.all()) >= k }, fmt.Sprintf("%d notifications (have %q)", k, n.all()))
	return n.all()
}

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

// load sends GET / on a new connection each time from loops goroutines
// until stop, and records each answer's pid; bounded in count and time.
type load struct {
	url        string
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[error]
	mu         sync.Mutex
	pids       map[int]int // pid → answers
	last       atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	client     *http.Client
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

func startLoad(url string, loops int) *load {
	const maxRequests = 500_000
	l := &load{url: url, pids: map[int]int{}, stop: make(chan struct{}),
		client: &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}}
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
				pid, err := l.get()
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				l.ok.Add(1)
				l.last.Store(int64(pid))
				l.mu.Lock()
				l.pids[pid]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) get() (int, error) {
	resp, err := l.client.Get(l.url)
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

func (l *load) seen(pid int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids[pid] > 0
}

func (l *load) end(t *testing.T) {
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

// lines reads r line by line into a channel.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

// servingAddr waits for a generation's "serving http://ADDR/" line.
func servingAddr(t *testing.T, out <-chan string) string {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case l, ok := <-out:
			require.True(t, ok, "the server ended before it served")
			if _, rest, ok := strings.Cut(l, "serving http://"); ok {
				return strings.TrimSuffix(rest, "/")
			}
		case <-timeout:
			t.Fatal("the server never said where it serves")
		}
	}
}

// reap waits, within patience, for pid, a child of this process (or an
// orphan it adopted as subreaper), to exit.
func reap(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err, "waiting for pid %d", pid)
		if got == pid {
			return
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ex")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
