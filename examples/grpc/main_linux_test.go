package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// serverEnv makes this test binary the example itself: main, with the
// arguments it was given.
const serverEnv = "ACCEPTGATE_EXAMPLE_SERVER"

// patience bounds every wait; nothing waits that long unless something broke.
const patience = 20 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// Continuous RPCs, from loops that dial a new connection for each and from
// long-lived clients, six upgrades by SIGHUP: no RPC fails, and each
// upgrade brings a new pid into the answers.
func TestGRPCUpgradesSixTimesWithNoFailedRPC(t *testing.T) {
	pid, out := startExample(t, "-addr", "127.0.0.1:0")
	addr := servingAddr(t, out)
	l := startLoad(t, addr, 4, 4)
	eventually(t, func() bool { return l.seen(pid) }, "an answer from the first generation")
	pids := []int{pid}
	for range 6 {
		old := pids[len(pids)-1]
		require.NoError(t, unix.Kill(old, unix.SIGHUP))
		var next int
		eventually(t, func() bool { next = l.newest(pids); return next != 0 }, fmt.Sprintf("an answer from the successor of pid %d", old))
		reap(t, old)
		pids = append(pids, next)
	}
	l.end(t)
	last := pids[len(pids)-1]
	require.NoError(t, unix.Kill(last, unix.SIGTERM))
	reap(t, last)
	for range out { // every generation's output, to the end
	}
	slices.Sort(pids)
	assert.Len(t, slices.Compact(pids), 7, "seven generations, seven pids")
}

// SIGTERM under load: every call on a connection the server accepted is
// answered, and every client that connects after is refused, none reset
// or closed unanswered (gracefulStop rejects, takes the queue in, then
// stops gracefully; GracefulStop alone would reset the queue).
func TestGRPCStopFailsOnlyClientsItRefuses(t *testing.T) {
	pid, out := startExample(t, "-addr", "127.0.0.1:0")
	addr := servingAddr(t, out)
	l := startLoad(t, addr, 6, 2)
	eventually(t, func() bool { return l.ok.Load() > 500 }, "500 answers")
	require.NoError(t, unix.Kill(pid, unix.SIGTERM))
	reap(t, pid)
	for range out {
	}
	close(l.stop)
	l.wg.Wait()
	assert.Positive(t, l.ok.Load())
	l.mu.Lock()
	defer l.mu.Unlock()
	for err, n := range l.errs {
		assert.Contains(t, err, "connection refused", "%d calls failed otherwise", n)
	}
	t.Logf("%d calls answered, failed: %v", l.ok.Load(), l.errs)
}

// startExample starts the example (this binary) with args; every
// generation's output comes on the channel. The process is left for reap:
// the test is the subreaper of all generations.
func startExample(t *testing.T, args ...string) (pid int, out <-chan string) {
	t.Helper()
	// Orphaned generations (their parent handed over and exited) come to
	// this process, which reaps them.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	pid = cmd.Process.Pid
	cmd.Process.Release() // reaped by reap, as its successors are
	t.Cleanup(func() { r.Close() })
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return pid, ch
}

// servingAddr waits for a generation's "serving grpc://ADDR" line.
func servingAddr(t *testing.T, out <-chan string) string {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case l, ok := <-out:
			require.True(t, ok, "the server ended before it served")
			if _, rest, ok := strings.Cut(l, "serving grpc://"); ok {
				return rest
			}
		case <-timeout:
			t.Fatal("the server never said where it serves")
		}
	}
}

// load calls Pid until stop, from dialers (a new connection per call) and
// long-lived clients (one connection each, for the whole load), and
// records each answer's pid; bounded in count and time.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[error]
	mu         sync.Mutex
	pids       map[int]int    // pid → answers
	errs       map[string]int // error → calls
	stop       chan struct{}
	wg         sync.WaitGroup
}

var pidRE = regexp.MustCompile(`^pid=(\d+)$`)

func startLoad(t *testing.T, addr string, dialers, clients int) *load {
	t.Helper()
	const maxCalls = 300_000
	l := &load{pids: map[int]int{}, errs: map[string]int{}, stop: make(chan struct{})}
	var total atomic.Int64
	loop := func(call func() (int, error)) {
		defer l.wg.Done()
		for total.Add(1) <= maxCalls {
			select {
			case <-l.stop:
				return
			default:
			}
			pid, err := call()
			if err != nil {
				l.failed.Add(1)
				l.firstErr.CompareAndSwap(nil, &err)
				l.mu.Lock()
				l.errs[err.Error()]++
				l.mu.Unlock()
				continue
			}
			l.ok.Add(1)
			l.mu.Lock()
			l.pids[pid]++
			l.mu.Unlock()
		}
	}
	for range dialers {
		l.wg.Add(1)
		go loop(func() (int, error) {
			cc, err := dial(addr)
			if err != nil {
				return 0, err
			}
			defer cc.Close()
			return callPid(cc)
		})
	}
	for range clients {
		cc, err := dial(addr)
		require.NoError(t, err)
		t.Cleanup(func() { cc.Close() })
		l.wg.Add(1)
		go loop(func() (int, error) { return callPid(cc) })
	}
	return l
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// callPid calls Pid on cc and returns the pid in its answer.
func callPid(cc *grpc.ClientConn) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var out wrapperspb.StringValue
	if err := cc.Invoke(ctx, PidMethod, &emptypb.Empty{}, &out); err != nil {
		return 0, err
	}
	m := pidRE.FindStringSubmatch(out.GetValue())
	if m == nil {
		return 0, fmt.Errorf("no pid in %q", out.GetValue())
	}
	return strconv.Atoi(m[1])
}

func (l *load) seen(pid int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pids[pid] > 0
}

// newest returns a pid that answered and is not among known, or 0.
func (l *load) newest(known []int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for pid := range l.pids {
		if !slices.Contains(known, pid) {
			return pid
		}
	}
	return 0
}

func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	var first error
	if p := l.firstErr.Load(); p != nil {
		first = *p
	}
	assert.Zero(t, l.failed.Load(), "failed RPCs (first: %v)", first)
	t.Logf("%d RPCs answered by %d processes", l.ok.Load(), len(l.pids))
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
			assert.True(t, ws.Exited() && ws.ExitStatus() == 0, "pid %d ended with %v", pid, ws)
			return
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
