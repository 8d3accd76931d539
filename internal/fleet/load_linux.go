package fleet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Load is client loops through a balancer, half with a new connection for
// every request, half with keep-alive, bounded in count and time; it
// counts failures by kind and keeps each answered request's latency,
// tagged with the step it lived through, if any.
type Load struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	served atomic.Int64
	step   atomic.Pointer[string] // the rolling step under way, or nil
	last   atomic.Pointer[string] // the last step begun
	flips  atomic.Int64           // how many times a step began or ended

	mu      sync.Mutex // guards the fields below
	failed  map[string]int
	first   map[string]string
	steps   map[string]bool
	samples []sample
}

type sample struct {
	d         time.Duration
	step      *string // nil outside the steps
	keepAlive bool    // from a client that keeps its connection
}

// StartLoad starts loops client loops against target (a URL), each bounded
// to a million requests and budget in time.
func StartLoad(target string, loops int, budget time.Duration) *Load {
	l := &Load{stop: make(chan struct{}), failed: map[string]int{}, first: map[string]string{}, steps: map[string]bool{}}
	deadline := time.Now().Add(budget)
	for i := range loops {
		keepAlive := i%2 == 1
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
		c := &http.Client{Timeout: Patience, Transport: tr}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer tr.CloseIdleConnections()
			var mine []sample
			defer func() {
				l.mu.Lock()
				l.samples = append(l.samples, mine...)
				l.mu.Unlock()
			}()
			for n := 0; n < 1_000_000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				flips, step := l.flips.Load(), l.step.Load()
				start := time.Now()
				kind, msg := get(c, target)
				if kind != "" {
					l.fail(kind, msg)
					continue
				}
				// A request sent before a step and answered after it
				// began, or even after it ended, lived through it.
				if step == nil {
					step = l.step.Load()
				}
				if step == nil && l.flips.Load() != flips {
					step = l.last.Load()
				}
				mine = append(mine, sample{time.Since(start), step, keepAlive})
				l.served.Add(1)
			}
		}()
	}
	return l
}

// Step says that step (such as "upgrade") is under way, until EndStep: the
// latencies of the requests sent meanwhile are counted apart.
func (l *Load) Step(step string) {
	l.mu.Lock()
	l.steps[step] = true
	l.mu.Unlock()
	l.last.Store(&step)
	l.step.Store(&step)
	l.flips.Add(1)
}

// EndStep says the step under way is over.
func (l *Load) EndStep() {
	l.step.Store(nil)
	l.flips.Add(1)
}

// Failure kinds, as Figures.Failed counts them.
const (
	Refused = "refused" // connection refused
	Reset   = "reset"   // connection reset
	Timeout = "timeout" // no answer within Patience
	EOF     = "eof"     // the connection closed before an answer
	Other   = "other"   // any other transport error
)

// get asks for target and says what kind of failure it met, if any: a
// status other than 200 ("status 503"), or the transport's error.
func get(c *http.Client, target string) (kind, msg string) {
	resp, err := c.Get(target)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			return "status " + strconv.Itoa(resp.StatusCode), resp.Status
		}
	}
	var ne net.Error
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = Refused
	case errors.Is(err, syscall.ECONNRESET):
		kind = Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = EOF
	case errors.As(err, &ne) && ne.Timeout():
		kind = Timeout
	default:
		kind = Other
	}
	return kind, err.Error()
}

// probe asks for target once, on a connection of its own.
func probe(target string) (kind, msg string) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return get(&http.Client{Timeout: Patience, Transport: tr}, target)
}

func (l *Load) fail(kind, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed[kind]++
	if _, ok := l.first[kind]; !ok {
		l.first[kind] = msg
	}
}

// Served is how many requests were answered 200 so far.
func (l *Load) Served() int64 { return l.served.Load() }

// WaitMore waits, at most Patience, until n more requests were answered.
func (l *Load) WaitMore(n int64) error {
	target := l.served.Load() + n
	deadline := time.Now().Add(Patience)
	for l.served.Load() < target {
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: clients stopped being served (%d answered in %v, want %d)", l.served.Load()-target+n, Patience, n)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// RunFor keeps the load on for d, checking that it is served.
func (l *Load) RunFor(d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := l.WaitMore(50); err != nil {
			return err
		}
	}
	return nil
}

// Quantiles are latencies of answered requests.
type Quantiles struct {
	N             int
	P50, P99, Max time.Duration
	Slow          int // how many took longer than 100ms
}

func (q Quantiles) String() string {
	return fmt.Sprintf("%v/%v/%v (%d)", q.P50, q.P99, q.Max, q.N)
}

// Figures are what the clients saw.
type Figures struct {
	Served  int64             // answered 200
	Failed  map[string]int    // by kind: Refused, Reset, ..., or "status 503"
	First   map[string]string // the first error of each kind
	Outside Quantiles         // outside the steps
	During  Quantiles         // during any step
	Steps   map[string]Quantiles
	// ByClient splits Steps, and "" (outside the steps), by client:
	// [0] with a new connection for every request, [1] kept alive.
	ByClient map[string][2]Quantiles
}

// Failures is how many requests failed in all.
func (f Figures) Failures() int {
	n := 0
	for _, k := range f.Failed {
		n += k
	}
	return n
}

// Status5xx is how many requests were answered with a 5xx.
func (f Figures) Status5xx() int {
	n := 0
	for kind, k := range f.Failed {
		if code, ok := strings.CutPrefix(kind, "status "); ok && strings.HasPrefix(code, "5") {
			n += k
		}
	}
	return n
}

func (f Figures) String() string {
	return fmt.Sprintf("%d answered, failed %v (first of each: %v), p50/p99/max outside steps %v, during steps %v",
		f.Served, f.Failed, f.First, f.Outside, f.During)
}

// End stops the clients, waits for them and returns what they saw.
func (l *Load) End() Figures {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := Figures{Served: l.served.Load(), Failed: l.failed, First: l.first,
		Steps: map[string]Quantiles{}, ByClient: map[string][2]Quantiles{}}
	var out, in []time.Duration
	by := map[string][]time.Duration{}
	byClient := map[string]*[2][]time.Duration{"": {}}
	for step := range l.steps {
		byClient[step] = &[2][]time.Duration{}
	}
	for _, s := range l.samples {
		k := 0
		if s.keepAlive {
			k = 1
		}
		if s.step == nil {
			out = append(out, s.d)
			byClient[""][k] = append(byClient[""][k], s.d)
			continue
		}
		in = append(in, s.d)
		by[*s.step] = append(by[*s.step], s.d)
		byClient[*s.step][k] = append(byClient[*s.step][k], s.d)
	}
	f.Outside, f.During = quantiles(out), quantiles(in)
	for step := range l.steps {
		f.Steps[step] = quantiles(by[step])
	}
	for step, ds := range byClient {
		f.ByClient[step] = [2]Quantiles{quantiles(ds[0]), quantiles(ds[1])}
	}
	return f
}

func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	slow := len(ds) - sort.Search(len(ds), func(i int) bool { return ds[i] > 100*time.Millisecond })
	return Quantiles{len(ds), at(0.50), at(0.99), ds[len(ds)-1], slow}
}
