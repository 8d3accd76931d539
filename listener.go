package acceptgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
)

// Listener is a net.Listener whose Accept can be paused, made to reject new
// clients, and resumed. Its methods are safe for concurrent use by multiple
// goroutines, concurrently with Accept.
type Listener struct {
	// mode holds the State, or-ed with the flags in state.go. It is the one
	// word the Accept hot path reads; once the Listener is shared it is
	// only written with mu held, by storeModeLocked, which wakes the
	// waiters when it changes. Transitions write it with opMu held too.
	mode atomic.Int32
	_    [cacheLine - 4]byte // the mode's line is read by every Accept: no counter shares it

	// counters count, in shards (shards.go), the connections Accept
	// returned and the goroutines inside the wrapped listener's Accept, so
	// that Pause can wait until none of them can take a connection any
	// more. The second is only kept when the socket can be woken
	// (sock.wake != nil).
	counters acceptCounters
	idle     chan struct{} // a token when inflight drops to zero while not accepting

	aborted atomic.Uint64 // closed by WithSkipAborted, never returned
	skip    bool          // WithSkipAborted: check each connection before returning it

	// tracker counts the connections handed out, when an option needs
	// them tracked; nil otherwise.
	tracker *tracker

	hook   func(from, to State)
	logger *slog.Logger

	// Two locks, as in net/http's Server: opMu serialises the transitions
	// (Pause, Reject, Resume, Close and the handoff steps) and is held
	// across their socket work, which may wait up to a second for
	// handshakes; mu is short and guards the state below it. Nothing waits
	// with mu held (no blocking syscall, no channel receive), so that
	// Stats, Accept's delivery of pending connections and waiters never
	// wait on socket work. The Close of a tracked connection takes only
	// the lock of its list in the tracker, and tracker.mu if someone waits
	// for a slot (track.go).
	//
	// Lock order: opMu, then mu, then hookMu, tracker.mu or a tracker
	// list's mu. Helpers named
	// ...OpLocked need opMu held and take mu themselves where they touch
	// the state below; helpers named ...Locked need mu held.
	opMu    sync.Mutex
	sock    atomic.Pointer[socket] // stored with opMu held
	handing *handing               // with opMu: set while the socket is being handed to or from another process
	// retirees are fenced sockets replaced by one bound beside them that
	// still deliver their last clients (retire_linux.go), written with opMu
	// and mu held; retiring counts their goroutines, which Close waits for.
	retirees []*retiree
	retiring sync.WaitGroup

	mu      sync.Mutex
	since   time.Time                 // when the state in mode was entered
	entered [Closed + 1]uint64        // transitions into each state
	spent   [Closed + 1]time.Duration // time in each state, up to since
	changed chan struct{}             // closed and replaced when mode changes or a slot is given back
	pending []net.Conn                // taken out of the kernel by a transition, not yet delivered
	kicked  bool                      // addPending set a deadline in the past to wake Accept for them
	drained chan struct{}             // closed when a released Listener has delivered its pending connections

	// Changes to report, in transition order. They are reported outside
	// opMu and mu by one goroutine at a time, so that a hook may call any
	// method.
	hookMu      sync.Mutex
	hookQueue   []stateChange
	hookRunning bool
}

// Wrap returns a Listener that gates l. The Listener starts accepting. Wrap
// takes ownership of l: close the returned Listener, not l.
//
// Pause is strict, and Reject keeps the socket, only when l is a
// *net.TCPListener or *net.UnixListener (or has SetDeadline and SyscallConn
// methods like theirs); see Pause and Reject for what happens otherwise.
func Wrap(l net.Listener, opts ...Option) *Listener {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return wrap(l, cfg, false)
}

func wrap(l net.Listener, cfg config, own bool) *Listener {
	g := &Listener{
		idle:    make(chan struct{}, 1),
		skip:    cfg.skip,
		hook:    cfg.hook,
		logger:  cfg.logger,
		since:   time.Now(),
		changed: make(chan struct{}),
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.track || cfg.maxConns > 0 {
		g.tracker = newTracker(int64(cfg.maxConns))
	}
	g.sock.Store(newSocket(l, cfg.socket, own, cfg.faults))
	return g
}

// Listen announces on the local network address and returns a Listener
// gating it. The network must be "tcp", "tcp4", "tcp6" or "unix". Options
// such as WithReusePort and WithBacklog shape the socket.
func Listen(ctx context.Context, network, address string, opts ...Option) (*Listener, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := cfg.socket.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return wrap(ln, cfg, true), nil
}

// Addr returns the listener's network address. After a Reject and Resume it is
// the same address.
func (l *Listener) Addr() net.Addr { return l.sock.Load().ln.Addr() }

// SyscallConn returns a raw network connection to the socket the Listener
// currently gates, for reading its options and accept queue (see package
// backlog). It returns an error wrapping errors.ErrUnsupported if the wrapped
// listener has no SyscallConn method. After Reject and Resume of a TCP
// socket that Listen created and whose fence this process may not lift, or
// on platforms other than Linux, the socket is a new one; call SyscallConn
// again.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	sc, ok := l.sock.Load().ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("acceptgate: %T has no SyscallConn: %w", l.sock.Load().ln, errors.ErrUnsupported)
	}
	return sc.SyscallConn()
}

// State returns the Listener's current state. While a transition is under
// way it returns the state being left, until the new one is entered; it
// never returns a state the Listener is neither in nor going to.
func (l *Listener) State() State { return State(l.mode.Load() & stateMask) }

// RejectMethod says, in a sentence for a server's log at start, how Reject
// refuses new clients on the Listener's socket on this machine and what
// Resume then does: a fence lifted in place, a fence and a replaced socket,
// a socket stopped once settled, a hidden unix path, or that Reject is not
// supported. It probes what Reject would (the interfaces, the privilege to
// lift a fence) and changes nothing. The wording is for people and may
// change; docs/reject.md explains each way.
func (l *Listener) RejectMethod() string { return l.sock.Load().refusalMethod() }

// Stats is a snapshot of a Listener's counters.
type Stats struct {
	State    State
	Since    time.Time // when State was entered
	Accepted uint64    // connections Accept has returned
	Active   int64     // tracked connections returned and not yet closed; 0 when untracked
	Pending  int       // connections taken out of the kernel by Reject, not yet returned by Accept
	Queued   int       // connections waiting in the kernel's accept queue; -1 where unknown
	Backlog  int       // the accept queue's limit; -1 where unknown
	Aborted  uint64    // connections closed unreturned because their client gave up (WithSkipAborted)

	// Entered counts the transitions into each state, indexed by State.
	// The state a Listener starts in counts as not entered.
	Entered [Closed + 1]uint64
	// Spent is the time spent in each state, indexed by State, the current
	// one included up to the snapshot. It never decreases.
	Spent [Closed + 1]time.Duration
}

// Stats returns a snapshot of the Listener's state and counters.
//
// Queued and Backlog come from package backlog: on Linux, for a listening TCP
// or unix socket (also while it rejects behind a fence); -1 elsewhere, and
// also while a transition has the socket stopped before State changes (a
// Reject that stops listening, a Resume that listens again): Stats never
// waits for a transition, so it tells what it could not read as unknown.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	st := Stats{
		State:    l.State(), // under mu: the state since and entered are of
		Since:    l.since,
		Active:   l.tracker.activeConns(), // before Accepted, which counts each of them first
		Accepted: l.counters.accepted(),
		Aborted:  l.aborted.Load(),
		Pending:  len(l.pending),
		Queued:   -1,
		Backlog:  -1,
		Entered:  l.entered,
		Spent:    l.spent,
	}
	st.Spent[st.State] += time.Since(l.since)
	s := l.sock.Load()
	retirees := slices.Clone(l.retirees)
	l.mu.Unlock()
	if sc, ok := s.ln.(syscall.Conn); ok && s.listening() && st.State != Closed {
		if q, err := backlog.Of(sc); err == nil {
			st.Queued, st.Backlog = q.Len, q.Limit
			// a fenced socket that still delivers holds its last clients
			// in a queue of its own
			for _, r := range retirees {
				st.Queued += r.queued()
			}
		}
	}
	return st
}
