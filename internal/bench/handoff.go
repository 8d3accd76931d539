package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acceptgate/acceptgate"
)

// HandoffConfig shapes a handoff run.
type HandoffConfig struct {
	Clients  int           // concurrent client loops; default 4
	Conns    int           // connections in all; default 10000
	Handoffs int           // times traffic moves from one socket to the other; default 20
	Leave    LeaveMode     // how the leaving socket goes
	Timeout  time.Duration // per connection; default 5s
	Address  string        // loopback address; default "127.0.0.1:0", or Net's address
	Net      Net           // where the servers and clients live; nil for loopback
	Progress func(done int)
}

// LeaveMode is how a socket leaves its SO_REUSEPORT group in a handoff.
type LeaveMode int

const (
	LeaveReject LeaveMode = iota // Reject, then Resume before its next turn
	LeaveClose                   // Close, and a new socket joins for its next turn
)

// String returns "reject" or "close", the names lab handoff -leave
// takes.
func (m LeaveMode) String() string {
	if m == LeaveClose {
		return "close"
	}
	return "reject"
}

// HandoffResult counts what the clients saw.
type HandoffResult struct {
	Conns    int `json:"conns"`     // connections attempted
	Served   int `json:"served"`    // connected, sent a request, read the answer
	Refused  int `json:"refused"`   // connect refused
	Reset    int `json:"reset"`     // connected, then reset or cut off before the answer
	TimedOut int `json:"timed_out"` // connect or answer timed out
	Handoffs int `json:"handoffs"`  // times a socket left
}

// ResetsPer10k is the share of connections reset after a successful connect.
func (r HandoffResult) ResetsPer10k() float64 {
	if r.Conns == 0 {
		return 0
	}
	return float64(r.Reset) * 10000 / float64(r.Conns)
}

// Handoff runs two gates on one address with SO_REUSEPORT, each serving a
// one-line echo, while client loops connect, send a line and read the
// answer. Every Conns/Handoffs connections, the socket taking traffic leaves
// (by cfg.Leave) and the other carries on alone. Only loopback (or the
// servers across cfg.Net) is dialled; the run is bounded by Conns and each
// connection by Timeout.
func Handoff(ctx context.Context, cfg HandoffConfig) (HandoffResult, error) {
	cfg.defaults()
	var a, b *acceptgate.Listener
	err := onServer(cfg.Net, func() (err error) {
		a, err = acceptgate.Listen(ctx, "tcp", cfg.Address, acceptgate.WithReusePort())
		return err
	})
	if err != nil {
		return HandoffResult{}, err
	}
	addr := a.Addr().String()
	err = onServer(cfg.Net, func() (err error) {
		b, err = acceptgate.Listen(ctx, "tcp", addr, acceptgate.WithReusePort())
		return err
	})
	if err != nil {
		a.Close()
		return HandoffResult{}, err
	}
	var servers sync.WaitGroup
	gates := [2]*acceptgate.Listener{a, b}
	for _, g := range gates {
		serveLines(&servers, g)
	}

	var res HandoffResult
	load := startHandoffLoad(ctx, cfg.Clients, cfg.Conns, cfg.Timeout, cfg.Net, addr, cfg.Progress,
		func(_ time.Time, a attempt) { res.count(a.outcome) })

	// The driver: each turn, one socket leaves and the other stays. The
	// kernel hands each new connection to a member of the SO_REUSEPORT group
	// by a hash of its 4-tuple, so while both are in the group each queues
	// about half the clients, and a connection queued on one never moves to
	// the other by itself. What a leave must do is stop new SYNs hashing to
	// the leaving socket and still deliver what it has queued: Reject takes
	// its queue out through Accept and leaves once no handshake is under
	// way; Close resets its queue unless net.ipv4.tcp_migrate_req=1 has the
	// kernel move it to the socket that stays. A left socket comes back
	// (Resume, or a new socket) before the next turn, so that both share
	// traffic again when the next one leaves.
	step := cfg.Conns / (cfg.Handoffs + 1)
	var driveErr error
	for turn := 0; turn < cfg.Handoffs && driveErr == nil; turn++ {
		load.reach(ctx, (turn+1)*step)
		leaving := turn % 2
		switch cfg.Leave {
		case LeaveReject:
			driveErr = onServer(cfg.Net, gates[leaving].Reject)
			if driveErr == nil {
				driveErr = onServer(cfg.Net, gates[leaving].Resume)
			}
		case LeaveClose:
			driveErr = gates[leaving].Close()
			var g *acceptgate.Listener
			if driveErr == nil {
				driveErr = onServer(cfg.Net, func() (err error) {
					g, err = acceptgate.Listen(ctx, "tcp", addr, acceptgate.WithReusePort())
					return err
				})
			}
			if driveErr == nil {
				gates[leaving] = g
				serveLines(&servers, g)
			}
		}
		res.Handoffs++
	}
	load.wait()
	for _, g := range gates {
		g.Close()
	}
	servers.Wait()
	if driveErr != nil {
		return res, fmt.Errorf("handoff %d: %w", res.Handoffs, driveErr)
	}
	return res, nil
}

func (cfg *HandoffConfig) defaults() {
	runDefaults(&cfg.Clients, &cfg.Conns, &cfg.Handoffs, &cfg.Timeout)
	if cfg.Address == "" {
		cfg.Address = serverHost(cfg.Net) + ":0"
	}
}

// handoffLoad is the clients of a handoff run: loops that each connect,
// send their connection's number and read it back, until conns connections
// were tried or ctx is done.
type handoffLoad struct {
	conns      int
	next, done atomic.Int64
	clients    sync.WaitGroup
}

// startHandoffLoad starts loops client loops against addr, across n if it
// is not nil. record is called with each attempt and when it began, one
// call at a time; progress, if not nil, every thousand connections.
func startHandoffLoad(ctx context.Context, loops, conns int, timeout time.Duration, n Net, addr string,
	progress func(done int), record func(began time.Time, a attempt)) *handoffLoad {
	l := &handoffLoad{conns: conns}
	var mu sync.Mutex
	for range loops {
		l.clients.Add(1)
		go func() {
			defer l.clients.Done()
			for {
				i := l.next.Add(1)
				if i > int64(conns) || ctx.Err() != nil {
					return
				}
				// Each client sends its own number, so that an answer
				// meant for another connection is not taken for its own.
				line := fmt.Sprintf("%d\n", i)
				began := time.Now()
				a := probe{network: "tcp", dial: dialer(n), connectTimeout: timeout, answerTimeout: timeout, request: line,
					answered: func(got string) bool { return got == line }}.run(addr)
				mu.Lock()
				record(began, a)
				mu.Unlock()
				if d := l.done.Add(1); progress != nil && d%1000 == 0 {
					progress(int(d))
				}
			}
		}()
	}
	return l
}

// reach returns once n connections are done, all were started, or ctx is
// done: the driver's next turn comes after that many.
func (l *handoffLoad) reach(ctx context.Context, n int) {
	for l.done.Load() < int64(n) && l.next.Load() <= int64(l.conns) && ctx.Err() == nil {
		time.Sleep(100 * time.Microsecond) // pacing the driver on the clients' count
	}
}

// wait returns once every client loop has ended.
func (l *handoffLoad) wait() { l.clients.Wait() }

// runDefaults fills in what a handoff run leaves zero: 4 client loops,
// 10,000 connections, 20 handoffs, 5 s per connection.
func runDefaults(clients, conns, handoffs *int, timeout *time.Duration) {
	if *clients <= 0 {
		*clients = 4
	}
	if *conns <= 0 {
		*conns = 10000
	}
	if *handoffs <= 0 {
		*handoffs = 20
	}
	if *timeout <= 0 {
		*timeout = 5 * time.Second
	}
}

// count adds one client's outcome. A client still waiting for its answer at
// the deadline counts as timed out: the run has no phase end to wait for.
func (r *HandoffResult) count(o outcome) {
	r.Conns++
	switch o {
	case served:
		r.Served++
	case refused:
		r.Refused++
	case reset:
		r.Reset++
	case timedOut, waiting:
		r.TimedOut++
	}
}
