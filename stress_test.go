package acceptgate_test

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
)

var (
	stressSeed = flag.Uint64("stress.seed", 0, "seed of TestStressAgainstModel; 0 picks one")
	stressLong = flag.Duration("stress.long", 0, "run TestStressAgainstModel this long instead of its short default")
)

// window is a time span in which the model allows clients some outcome.
type window struct{ from, to time.Time }

type timeline struct {
	mu      sync.Mutex
	refuse  []window // rejecting or closed: a connect may be refused
	cut     []window // closed by the test: a queued client may be reset
	openRef time.Time
	openCut time.Time
}

func (tl *timeline) start(w *time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if w.IsZero() {
		*w = time.Now()
	}
}

func (tl *timeline) end(w *time.Time, into *[]window) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if !w.IsZero() {
		*into = append(*into, window{*w, time.Now()})
		*w = time.Time{}
	}
}

func (tl *timeline) overlaps(ws []window, open time.Time, from, to time.Time) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if !open.IsZero() && to.After(open) {
		return true
	}
	for _, w := range ws {
		if from.Before(w.to) && to.After(w.from) {
			return true
		}
	}
	return false
}

func (tl *timeline) mayRefuse(from, to time.Time) bool {
	return tl.overlaps(tl.refuse, tl.openRef, from, to)
}

func (tl *timeline) mayCut(from, to time.Time) bool {
	return tl.overlaps(tl.cut, tl.openCut, from, to)
}

// stressServer accepts from a gate until it is closed and answers one line
// per connection. A connection delivered twice would be open twice at once:
// no two open connections come from one client port.
type stressServer struct {
	mu         sync.Mutex
	open       map[int]bool // client ports of the connections being served
	duplicates []int
	delivered  int
	accepted   uint64 // by the current gate
	wg         sync.WaitGroup
}

func (s *stressServer) serve(g *acceptgate.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			port := c.RemoteAddr().(*net.TCPAddr).Port
			s.mu.Lock()
			if s.open[port] {
				s.duplicates = append(s.duplicates, port)
			}
			s.open[port] = true
			s.delivered++
			s.accepted++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.open, port)
					s.mu.Unlock()
					c.Close()
				}()
				c.SetDeadline(time.Now().Add(patience))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					fmt.Fprintf(c, "ok %s", line)
				}
			}()
		}
	}()
}

type outcome struct {
	kind     string // served, refused, cut, other
	port     int
	from, to time.Time
	err      error
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// injectable are the steps of a transition the stress test makes fail.
var injectable = []string{faults.Accept, faults.Fence, faults.Unfence, faults.Probe, faults.Handshakes,
	faults.Shutdown, faults.Hold, faults.Listen, faults.Bind}

// TestStressAgainstModel runs clients against a gate that a driver flips
// at random (Pause, Reject, Resume, Close and listen again), with a step of
// one transition in eight made to fail, and checks every
// client's outcome against what the model allows in the states it met, that
// every connection was delivered exactly once, that Stats agrees with the
// server, and that nothing is left behind.
func TestStressAgainstModel(t *testing.T) {
	seed := *stressSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -stress.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	ops, duration := 400, time.Duration(0)
	if *stressLong > 0 {
		ops, duration = 1<<31-1, *stressLong
	}
	fdsBefore := openFDs(t)

	addr := "127.0.0.1:0"
	var tl timeline
	srv := &stressServer{open: map[int]bool{}}
	gate := listen(t, "tcp4", addr, acceptgate.WithTracking())
	addr = gate.Addr().String()
	srv.serve(gate)

	endClients := runStressClients(6, func(n int) outcome {
		return stressClient(func() (net.Conn, error) { return net.DialTimeout("tcp4", addr, patience) }, n)
	})

	start := time.Now()
	for i := 0; i < ops && (duration == 0 || time.Since(start) < duration); i++ {
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // a random interval between operations, not synchronisation
		// One transition in eight has one of its steps fail: it must then
		// leave the gate as it was, and lose no client.
		var disarm func() int
		if rng.IntN(8) == 0 {
			disarm = faultsOf(t).Arm(injectable[rng.IntN(len(injectable))], 1, syscall.EIO)
		}
		check := func(err error) {
			injected := 0
			if disarm != nil {
				injected = disarm()
				disarm = nil
			}
			if err != nil && injected == 0 {
				t.Fatalf("transition failed with no step made to fail: %v", err)
			}
		}
		switch op := rng.IntN(10); {
		case op < 3:
			check(gate.Pause())
		case op < 5:
			tl.start(&tl.openRef)
			check(gate.Reject())
		case op < 9:
			check(gate.Resume())
			if gate.State() != acceptgate.Rejecting {
				tl.end(&tl.openRef, &tl.refuse)
			}
		default: // close and listen again on the same address
			check(nil)
			tl.start(&tl.openRef)
			tl.start(&tl.openCut)
			require.NoError(t, gate.Close())
			srv.closed(t, gate)
			var err error
			gate, err = acceptgate.Listen(t.Context(), "tcp4", addr, acceptgate.WithTracking(), withFaults(t))
			require.NoError(t, err, "listen again on %s", addr)
			srv.serve(gate)
			tl.end(&tl.openCut, &tl.cut)
			tl.end(&tl.openRef, &tl.refuse)
		}
	}
	require.NoError(t, gate.Resume())
	tl.end(&tl.openRef, &tl.refuse)
	gathered := endClients()

	require.NoError(t, gate.Close())
	srv.wg.Wait()
	counts := checkStress(t, srv, gate.Stats(), &tl, gathered)
	t.Logf("outcomes %v; %d connections delivered", counts, srv.delivered)
	assert.Positive(t, counts["served"])

	if fdsBefore >= 0 {
		eventually(t, func() bool { return openFDs(t) <= fdsBefore }, "descriptors back to %d (now %d)", fdsBefore, openFDs(t))
	}
	runtime.GC()
}

// closed waits until the server is done with a closed gate's connections,
// checks that the gate's Stats counted what the server was handed, and
// starts counting afresh for the next gate.
func (s *stressServer) closed(t *testing.T, gate *acceptgate.Listener) {
	t.Helper()
	s.wg.Wait()
	stats := gate.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, s.accepted, stats.Accepted, "Stats().Accepted of the closed gate")
	s.accepted = 0
}

// runStressClients runs loops of client until the returned end is called,
// which returns every outcome. Outcomes are gathered as they come: a long
// run has more of them than any channel buffer holds.
func runStressClients(loops int, client func(n int) outcome) (end func() []outcome) {
	stop := make(chan struct{})
	results := make(chan outcome, 1024)
	var gathered []outcome
	gathering := make(chan struct{})
	go func() {
		defer close(gathering)
		for r := range results {
			gathered = append(gathered, r)
		}
	}()
	var clients sync.WaitGroup
	for range loops {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				results <- client(n)
			}
		}()
	}
	return func() []outcome {
		close(stop)
		clients.Wait()
		close(results)
		<-gathering
		return gathered
	}
}

// checkStress checks the server's count against the last gate's Stats,
// that nothing was delivered twice, and every outcome against what the
// timeline allows; it returns how many of each kind there were.
func checkStress(t *testing.T, srv *stressServer, final acceptgate.Stats, tl *timeline, gathered []outcome) map[string]int {
	t.Helper()
	counts := map[string]int{}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assert.Equal(t, srv.accepted, final.Accepted, "Stats().Accepted of the last gate")
	assert.Empty(t, srv.duplicates, "connections delivered twice")
	for _, r := range gathered {
		counts[r.kind]++
		switch r.kind {
		case "served": // the answer names the request: the server had it
		case "refused":
			assert.True(t, tl.mayRefuse(r.from, r.to), "client refused while the gate accepted or paused: %v", r.err)
		case "cut":
			assert.True(t, tl.mayCut(r.from, r.to), "client reset after connecting, with no Close near: %v", r.err)
		default:
			t.Errorf("client: %v", r.err)
		}
	}
	return counts
}

// stressClient connects with dial, sends n and reads the answer.
func stressClient(dial func() (net.Conn, error), n int) outcome {
	from := time.Now()
	c, err := dial()
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return outcome{kind: "refused", from: from, to: time.Now(), err: err}
		}
		if errors.Is(err, syscall.ECONNRESET) {
			return outcome{kind: "cut", from: from, to: time.Now(), err: err}
		}
		return outcome{kind: "other", err: err}
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	got, err := roundTrip(c, fmt.Sprint(n))
	switch {
	case err == nil && got == fmt.Sprintf("ok %d\n", n):
		return outcome{kind: "served", port: port}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), err != nil && err.Error() == "EOF":
		return outcome{kind: "cut", port: port, from: from, to: time.Now(), err: err}
	}
	return outcome{kind: "other", port: port, err: fmt.Errorf("answer %q: %v", got, err)}
}
