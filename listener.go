// Package acceptgate wraps a net.Listener so that a running server can stop
// taking connections for a while without tearing itself down.
//
// A Listener is in one of four states:
//
//   - Accepting: Accept hands out connections as the wrapped listener does.
//   - Paused: Accept blocks and takes nothing from the kernel. New clients
//     complete the TCP handshake and wait in the kernel's accept queue (up to
//     the listen backlog); Resume serves them in order.
//   - Rejecting: new clients are refused at once (ECONNREFUSED). Accept
//     delivers the clients the kernel had admitted before, those in its
//     accept queue and those whose handshake was under way, and then blocks,
//     as when paused. How the socket refuses depends on the platform and on
//     what the process may do (see Reject); on Linux none of it needs a
//     privilege.
//   - Closed: the wrapped listener is closed for good and Accept returns an
//     error wrapping net.ErrClosed.
//
// While paused or rejecting, Accept never returns an error of its own, so the
// server's accept loop (http.Server.Serve, grpc.Server.Serve, a hand-written
// loop) stays alive with its handlers and carries on after Resume.
package acceptgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
)

// State is the state of a Listener.
type State int32

// The states of a Listener. The zero value is Accepting.
const (
	Accepting State = iota // Accept hands out connections.
	Paused                 // Accept blocks; clients wait in the kernel's accept queue.
	Rejecting              // Accept blocks; the socket is not listening and clients are refused.
	Closed                 // The listener is closed for good.
)

// String returns the state's name in lower case, such as "paused".
func (s State) String() string {
	switch s {
	case Accepting:
		return "accepting"
	case Paused:
		return "paused"
	case Rejecting:
		return "rejecting"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Flags or-ed into the mode word. They keep the Accept hot path to one
// comparison: any mode other than plain Accepting goes the slow way.
const (
	// pendingFlag: connections taken out of the kernel by a transition wait
	// to be delivered.
	pendingFlag = 1 << 8
	// deliverFlag: rejecting, and Accept still takes from the socket the
	// clients the kernel admitted before it began refusing.
	deliverFlag = 1 << 9

	rejectingDelivering = int32(Rejecting) | deliverFlag
	stateMask           = 0xff
)

// socketOpen reports whether Accept may take connections from the socket in
// mode m.
func socketOpen(m int32) bool { return m == int32(Accepting) || m == rejectingDelivering }

// ErrInvalidTransition is wrapped by the error a transition returns when the
// Listener cannot make it, such as Resume after Close (which also wraps
// net.ErrClosed).
var ErrInvalidTransition = errors.New("invalid transition")

// Listener is a net.Listener whose Accept can be paused, made to reject new
// clients, and resumed. Its methods are safe for concurrent use by multiple
// goroutines, concurrently with Accept.
type Listener struct {
	// mode holds the State, or-ed with pendingFlag. It is the one word the
	// Accept hot path reads; it is only written with mu held.
	mode atomic.Int32

	// inflight counts the goroutines inside the wrapped listener's Accept, so
	// that Pause can wait until none of them can take a connection any more.
	// It is only kept when the socket can be woken (sock.wake != nil).
	inflight atomic.Int32
	idle     chan struct{} // a token when inflight drops to zero while not accepting

	accepted atomic.Uint64

	// Connection tracking, on when an option needs it.
	track   bool
	limit   int64        // WithMaxConns; 0 means no limit
	slots   atomic.Int64 // active plus accepts under way that hold a slot
	active  atomic.Int64 // tracked connections handed out and not yet closed
	waiters atomic.Int32 // goroutines waiting for a slot or for active to drop
	connsMu sync.Mutex
	conns   connList

	hook   func(from, to State)
	logger *slog.Logger

	mu      sync.Mutex // serializes transitions; guards the fields below
	sock    atomic.Pointer[socket]
	since   time.Time
	changed chan struct{} // closed and replaced whenever a waiter may proceed
	pending []net.Conn    // taken out of the kernel by a transition, not yet delivered

	// Changes to report, in transition order. They are reported outside mu
	// by one goroutine at a time, so that a hook may call any method.
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
		track:   cfg.track || cfg.maxConns > 0,
		limit:   int64(cfg.maxConns),
		hook:    cfg.hook,
		logger:  cfg.logger,
		since:   time.Now(),
		changed: make(chan struct{}),
	}
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	g.sock.Store(newSocket(l, cfg.socket, own))
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

// Accept waits for and returns the next connection to the listener.
//
// While the Listener is paused or rejecting, Accept blocks. It returns an
// error wrapping net.ErrClosed once the Listener is closed. Errors of the
// wrapped listener, temporary ones included, are passed on unchanged so that
// a server's back-off logic keeps working.
//
// Without connection tracking the connection is the wrapped listener's own
// (a *net.TCPConn from a TCP listener). With tracking it is wrapped; its
// NetConn method returns the underlying connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		if m := l.mode.Load(); m != int32(Accepting) && m != rejectingDelivering {
			c, err := l.acceptSlow()
			if c != nil || err != nil {
				return c, err
			}
			continue
		}
		if l.track && !l.acquireSlot() {
			continue
		}
		s := l.sock.Load()
		c, err := l.acceptFrom(s)
		if err != nil {
			if l.track {
				l.releaseSlot()
			}
			if err = l.acceptError(s, err); err != nil {
				return nil, err
			}
			continue
		}
		l.accepted.Add(1)
		if l.track {
			return l.trackConn(c), nil
		}
		return c, nil
	}
}

// errGateChanged tells Accept to look at the state again.
var errGateChanged = errors.New("acceptgate: state changed")

func (l *Listener) acceptFrom(s *socket) (net.Conn, error) {
	if s.wake == nil {
		return s.ln.Accept()
	}
	// Announce ourselves before checking the state: a Pause that stores its
	// state after this point will see inflight > 0 and wait for us.
	l.inflight.Add(1)
	if !socketOpen(l.mode.Load()) {
		l.leaveAccept()
		return nil, errGateChanged
	}
	c, err := s.ln.Accept()
	l.leaveAccept()
	return c, err
}

func (l *Listener) leaveAccept() {
	if l.inflight.Add(-1) == 0 && !socketOpen(l.mode.Load()) {
		select {
		case l.idle <- struct{}{}:
		default: // a token is there already
		}
	}
}

// acceptError decides what an error from the wrapped Accept means: nil when it
// came from the gate's own doing (a wake-up, a closed socket being replaced)
// and Accept should look at the state again, otherwise the error to return.
func (l *Listener) acceptError(s *socket, err error) error {
	if err == errGateChanged {
		return nil
	}
	if State(l.mode.Load()&stateMask) == Closed {
		return l.closedError("accept")
	}
	if !socketOpen(l.mode.Load()) || l.sock.Load() != s {
		return nil
	}
	if s.wake != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// A wake-up from a Pause that was resumed before this goroutine
		// looked at the state again.
		return nil
	}
	return err
}

// acceptSlow handles every mode but plain Accepting: it delivers a pending
// connection, reports the Listener closed, or waits for a change. It returns
// (nil, nil) when Accept should look at the state again.
func (l *Listener) acceptSlow() (net.Conn, error) {
	l.mu.Lock()
	mode := l.mode.Load()
	if State(mode&stateMask) == Closed {
		l.mu.Unlock()
		return nil, l.closedError("accept")
	}
	// A delivery waiting for a slot registers before it tries: a slot
	// released after a failed try then finds it and broadcasts.
	if len(l.pending) > 0 && l.track {
		l.waiters.Add(1)
		defer l.waiters.Add(-1)
	}
	if len(l.pending) > 0 && (!l.track || l.tryAcquireSlot()) {
		c := l.pending[0]
		l.pending[0] = nil
		l.pending = l.pending[1:]
		if len(l.pending) == 0 {
			l.pending = nil
			l.mode.Store(mode &^ pendingFlag)
		}
		l.mu.Unlock()
		l.accepted.Add(1)
		if l.track {
			return l.trackConn(c), nil
		}
		return c, nil
	}
	if socketOpen(mode) {
		l.mu.Unlock()
		return nil, nil
	}
	changed := l.changed
	l.mu.Unlock()
	<-changed
	return nil, nil
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

// State returns the Listener's current state.
func (l *Listener) State() State { return State(l.mode.Load() & stateMask) }

// Stats is a snapshot of a Listener's counters.
type Stats struct {
	State    State
	Since    time.Time // when State was entered
	Accepted uint64    // connections Accept has returned
	Active   int64     // tracked connections returned and not yet closed; 0 when untracked
	Pending  int       // connections taken out of the kernel by Reject, not yet returned by Accept
	Queued   int       // connections waiting in the kernel's accept queue; -1 where unknown
	Backlog  int       // the accept queue's limit; -1 where unknown
}

// Stats returns a snapshot of the Listener's state and counters.
//
// Queued and Backlog come from package backlog: on Linux, for a listening TCP
// or unix socket (also while it rejects behind a fence); -1 elsewhere.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	st := Stats{
		State:    l.State(),
		Since:    l.since,
		Accepted: l.accepted.Load(),
		Active:   l.active.Load(),
		Pending:  len(l.pending),
		Queued:   -1,
		Backlog:  -1,
	}
	s := l.sock.Load()
	l.mu.Unlock()
	if sc, ok := s.ln.(syscall.Conn); ok && s.listening() && st.State != Closed {
		if q, err := backlog.Of(sc); err == nil {
			st.Queued, st.Backlog = q.Len, q.Limit
		}
	}
	return st
}

func (l *Listener) closedError(op string) error { return l.opError(op, net.ErrClosed) }
