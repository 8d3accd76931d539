package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acceptgate/acceptgate"
)

// RejectCostConfig shapes RejectCost.
type RejectCostConfig struct {
	// Group makes the gate that rejects a member of an SO_REUSEPORT group
	// of two; the other member goes on serving.
	Group   bool
	Rate    int           // new clients a second, throughout; default 2000
	Cycles  int           // Reject/Resume cycles; default 1000
	Hold    time.Duration // time in each state between the calls; default 5ms
	Timeout time.Duration // bound on the cycles; default 2m
}

// RejectCostResult is what RejectCost measured.
type RejectCostResult struct {
	Method string `json:"method"` // how Reject refused, as RejectMethod says
	Cycles int    `json:"cycles"`
	// The calls' durations.
	RejectP50 time.Duration `json:"reject_p50"`
	RejectP99 time.Duration `json:"reject_p99"`
	RejectMax time.Duration `json:"reject_max"`
	ResumeP50 time.Duration `json:"resume_p50"`
	ResumeP99 time.Duration `json:"resume_p99"`
	ResumeMax time.Duration `json:"resume_max"`
	// Forced counts the stops that waited their whole bound for the
	// handshakes under way and then stopped anyway, as the gate's warning
	// reports them.
	Forced int `json:"forced"`
	// What the clients saw. Reset counts clients that connected and were
	// then reset or cut off: what a Reject must never cause.
	Clients  int `json:"clients"`
	Served   int `json:"served"`
	Refused  int `json:"refused"`
	Reset    int `json:"reset"`
	Waiting  int `json:"waiting"`
	TimedOut int `json:"timed_out"`
}

// Lost is the number of clients that connected and were not served.
func (r RejectCostResult) Lost() int { return r.Reset + r.Waiting }

// RejectCost measures what Reject and Resume cost, and what clients see,
// for a gate on loopback in this process's network namespace, with the
// privileges it has: cfg.Cycles Reject/Resume cycles while new clients
// arrive at cfg.Rate, each sending a line and reading it back. What else
// the host holds (see HoldConnections) is what the calls walk past where
// they count the handshakes under way. Bounded by cfg.Timeout, the clients
// by 3 s each; only loopback is dialled.
func RejectCost(ctx context.Context, cfg RejectCostConfig) (RejectCostResult, error) {
	cfg.defaults()
	var res RejectCostResult
	var forced atomic.Int64
	logger := slog.New(&forcedCounter{n: &forced})
	opts := []acceptgate.Option{acceptgate.WithLogger(logger)}
	if cfg.Group {
		opts = append(opts, acceptgate.WithReusePort())
	}
	gate, err := acceptgate.Listen(ctx, "tcp", "127.0.0.1:0", opts...)
	if err != nil {
		return res, err
	}
	var servers sync.WaitGroup
	defer servers.Wait()
	defer gate.Close()
	serveLines(&servers, gate)
	if cfg.Group {
		peer, err := acceptgate.Listen(ctx, "tcp", gate.Addr().String(), opts...)
		if err != nil {
			return res, err
		}
		defer peer.Close()
		serveLines(&servers, peer)
	}
	res.Method = gate.RejectMethod()

	// The load: one client every 1/Rate, each on a connection of its own.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var clients sync.WaitGroup
	var mu sync.Mutex // guards res's client counts
	get := probe{network: "tcp4", connectTimeout: 3 * time.Second, answerTimeout: 3 * time.Second, request: "cost\n",
		answered: func(line string) bool { return line == "cost\n" }}
	// Each client from an address of its own in 127.0.0.0/8: at 2,000 a
	// second, clients from one address would soon connect from a port whose
	// last connection is still in TIME_WAIT, and wait a second for a SYN
	// sent again, whatever the gate does.
	var source atomic.Uint32
	get.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		n := source.Add(1) % (1 << 16)
		from := &net.TCPAddr{IP: net.IPv4(127, 1, byte(n>>8), byte(n))}
		return (&net.Dialer{LocalAddr: from}).DialContext(ctx, network, address)
	}
	clients.Add(1)
	go func() {
		defer clients.Done()
		tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			clients.Add(1)
			go func() {
				defer clients.Done()
				a := get.run(gate.Addr().String())
				mu.Lock()
				defer mu.Unlock()
				res.Clients++
				switch a.outcome {
				case served:
					res.Served++
				case refused:
					res.Refused++
				case timedOut:
					res.TimedOut++
				case waiting:
					res.Waiting++
				default:
					res.Reset++
				}
			}()
		}
	}()

	var rejects, resumes []time.Duration
	deadline := time.Now().Add(cfg.Timeout)
	var cycleErr error
	for range cfg.Cycles {
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		t0 := time.Now()
		if err := gate.Reject(); err != nil {
			cycleErr = fmt.Errorf("reject: %w", err)
			break
		}
		rejects = append(rejects, time.Since(t0))
		time.Sleep(cfg.Hold) // the pace of the cycles, not synchronisation
		t0 = time.Now()
		if err := gate.Resume(); err != nil {
			cycleErr = fmt.Errorf("resume: %w", err)
			break
		}
		resumes = append(resumes, time.Since(t0))
		time.Sleep(cfg.Hold)
	}
	stopLoad()
	clients.Wait()

	res.Cycles = len(resumes)
	res.RejectP50, res.RejectP99, res.RejectMax = spread(rejects)
	res.ResumeP50, res.ResumeP99, res.ResumeMax = spread(resumes)
	res.Forced = int(forced.Load())
	return res, cycleErr
}

func (cfg *RejectCostConfig) defaults() {
	if cfg.Rate <= 0 {
		cfg.Rate = 2000
	}
	if cfg.Cycles <= 0 {
		cfg.Cycles = 1000
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 5 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
}

func spread(ds []time.Duration) (p50, p99, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return percentile(ds, 0.50), percentile(ds, 0.99), ds[len(ds)-1]
}

// ForcedStopWarning begins the warning a gate logs when a stop had to force:
// RejectCost counts them by it.
const ForcedStopWarning = "acceptgate: stopped listening with handshakes still under way"

// forcedCounter is a slog.Handler that counts the gate's warnings that a
// stop had to force, and drops every other record.
type forcedCounter struct{ n *atomic.Int64 }

func (h *forcedCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *forcedCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, ForcedStopWarning) {
		h.n.Add(1)
	}
	return nil
}
func (h *forcedCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *forcedCounter) WithGroup(string) slog.Handler      { return h }

// HoldConnections opens n TCP connections on loopback, both ends in this
// process, and holds them until ctx is done: the other connections of a
// busy host, that a walk of the kernel's connection table passes. It
// returns once all are open; it needs 2n descriptors. The connections go to
// a listener of its own on 127.0.0.1, so that they take no port a gate
// might want.
func HoldConnections(ctx context.Context, n int) (release func(), err error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var held []net.Conn
	release = func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	}
	accepted := make(chan net.Conn, 64)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range n {
		if ctx.Err() != nil {
			release()
			return nil, ctx.Err()
		}
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			release()
			return nil, fmt.Errorf("holding %d connections: %w", n, err)
		}
		held = append(held, c)
		select {
		case s := <-accepted:
			held = append(held, s)
		case <-time.After(5 * time.Second):
			release()
			return nil, errors.New("holding connections: an accept did not come within 5s")
		}
	}
	ln.Close()
	for range accepted { // the accept loop ends with the listener
	}
	return release, nil
}
