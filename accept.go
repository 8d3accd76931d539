package acceptgate

import (
	"errors"
	"net"
	"os"
	"time"
)

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
		if l.tracker != nil && !l.acquireSlot() {
			continue
		}
		s := l.sock.Load()
		sh := l.counters.mine()
		c, err := l.acceptFrom(s, sh)
		if err != nil {
			if l.tracker != nil {
				l.tracker.release()
			}
			if err = l.acceptError(s, err); err != nil {
				return nil, err
			}
			continue
		}
		if l.skip && l.skipped(c) {
			continue // bounded by the clients queued: each turn takes one out
		}
		sh.accepted.Add(1)
		if l.tracker != nil {
			return l.trackTaken(c)
		}
		return c, nil
	}
}

// trackTaken wraps c, taken under a slot, unless a Shutdown has
// closed the tracked connections meanwhile: then c is closed too and Accept
// reports the Listener closed, so that nothing handed out outlives that
// Shutdown. c is listed before the flag is read, so closeAll, which sets
// the flag before it looks, either finds c or c sees the flag.
func (l *Listener) trackTaken(c net.Conn) (net.Conn, error) {
	tc := l.tracker.wrap(c)
	if l.tracker.closedAll.Load() {
		tc.Close()
		return nil, l.closedError("accept")
	}
	return tc, nil
}

// errGateChanged tells Accept to look at the state again.
var errGateChanged = errors.New("acceptgate: state changed")

// acceptFrom takes a connection from s, counting the goroutine in sh, its
// shard, while it is inside the wrapped Accept.
func (l *Listener) acceptFrom(s *socket, sh *acceptShard) (net.Conn, error) {
	if s.wake == nil {
		return s.ln.Accept()
	}
	// Announce ourselves before checking the state: a Pause that stores its
	// state after this point will count us and wait.
	sh.inflight.Add(1)
	if !socketOpen(l.mode.Load()) {
		l.leaveAccept(sh)
		return nil, errGateChanged
	}
	c, err := s.ln.Accept()
	l.leaveAccept(sh)
	return c, err
}

// leaveAccept counts the goroutine out of sh, where it counted itself in,
// and, if a transition waits for the last one and this was it, says so.
func (l *Listener) leaveAccept(sh *acceptShard) {
	sh.inflight.Add(-1)
	if !socketOpen(l.mode.Load()) && l.counters.inflight() == 0 {
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
	if State(mode&stateMask) == Closed && len(l.pending) == 0 {
		// A Listener released to another process is closed with
		// connections left to deliver; a closed one has none.
		l.mu.Unlock()
		return nil, l.closedError("accept")
	}
	// A delivery waiting for a slot watches before it tries: a slot
	// released after a failed try then wakes it.
	changed := l.changed
	var freed <-chan struct{} // nil: no slot to wait for
	if len(l.pending) > 0 && l.tracker != nil {
		freed = l.tracker.watch()
		defer l.tracker.unwatch()
	}
	if len(l.pending) > 0 && (l.tracker == nil || l.tracker.tryAcquire()) {
		c := l.pending[0]
		l.pending[0] = nil
		l.pending = l.pending[1:]
		if len(l.pending) == 0 {
			l.pending = nil
			if l.kicked {
				// Cleared before the mode says nothing is pending, so
				// that an Accept that then goes into the socket waits.
				l.kicked = false
				if s := l.sock.Load(); socketOpen(mode&^pendingFlag) && s.wake != nil {
					_ = s.wake(time.Time{})
				}
			}
			l.storeModeLocked(mode &^ pendingFlag)
			l.closeDrainedLocked()
		}
		l.mu.Unlock()
		if l.skip && l.skipped(c) {
			return nil, nil // its client gave up while it was pending
		}
		l.counters.mine().accepted.Add(1)
		if l.tracker != nil {
			return l.trackTaken(c)
		}
		return c, nil
	}
	if socketOpen(mode) {
		l.mu.Unlock()
		return nil, nil
	}
	l.mu.Unlock()
	select {
	case <-changed:
	case <-freed:
	}
	return nil, nil
}
