package acceptgate

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

// successor is the socket that takes over from a fenced one that a Resume
// without CAP_NET_RAW replaces (replaceBesideOpLocked). It listens from
// that Resume on, beside the fenced socket: new clients reach only the
// successor and wait in its queue, while the gate still takes from the
// fenced socket the clients whose handshakes were under way when it was
// fenced. Once a count finds none under way there, or the count's bound
// has passed, the gate takes the fenced socket's queue out, closes it and
// accepts from the successor (takeOverOpLocked). So that Resume waits for
// no count, and no client is refused or reset on its way through.
type successor struct {
	next  *socket
	watch *settleWatch  // of the fenced socket; nil: the take-over counts
	gone  chan struct{} // closed once it took over or was closed
	once  sync.Once
}

// replaceBesideOpLocked binds, in place of the fenced socket s, a new one
// beside it (bindBeside), and returns the socket the gate accepts from until
// the take-over: s, listening behind its fence, with the successor. It
// returns nil, having changed nothing, where the new socket cannot bind.
func (l *Listener) replaceBesideOpLocked(s *socket, watch *settleWatch) *socket {
	cfg := liveConfig(s)
	ln, err := bindBeside(s, cfg)
	if err != nil {
		l.logger.Debug("acceptgate: no socket beside the fenced one; Resume replaces it in turn", "addr", s.ln.Addr().String(), "reason", err.Error())
		return nil
	}
	cur := s.accepting()
	cur.succ = &successor{next: newSocket(ln, cfg, true, s.faults), watch: watch, gone: make(chan struct{})}
	l.takeovers.Add(1)
	go l.takeOverWhenSettled(cur, settleTime)
	return cur
}

// bindBeside binds and listens, with cfg, a new socket on the address of
// s, which goes on listening behind its fence. Linux lets two TCP sockets
// of one user share an address where both have SO_REUSEPORT; bound to
// different interfaces (the fence's, none), they are not one group, and
// clients arrive only at the new one. The flag is set for the new socket
// to bind and listen, and cleared on both once it does: no third socket
// joins either through it, and the new one is no group member (Reject
// fences it in turn). One thing stays of it: the kernel remembers that
// the address was shared by this user, so another socket of the same user
// with SO_REUSEPORT may bind it now (docs/reject.md).
func bindBeside(s *socket, cfg listener.Config) (net.Listener, error) {
	for _, step := range []string{faults.Bind, faults.Beside} {
		if err := s.faults.Check(step); err != nil {
			return nil, err
		}
	}
	network, err := tcpNetwork(s.ln)
	if err != nil {
		return nil, err
	}
	if err := sockets.SetReusePort(s.ln, true); err != nil {
		return nil, err
	}
	defer sockets.SetReusePort(s.ln, false)
	cfg.ReusePort = true
	ln, err := cfg.Listen(context.Background(), network, s.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	if err := sockets.SetReusePort(ln, false); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// takeOverWhenSettled waits for the watch of s, the gate's socket with a
// successor, to end, and makes the successor the gate's socket, unless a
// transition or Close came first: each of those takes over itself. It
// does so only while the gate accepts: a Pause from Rejecting binds the
// successor beside too, and once Pause returned nothing may be taken from
// the kernel, so the fenced socket's last clients wait in its queue until
// the next transition takes over.
//
// A take-over whose stop fails (an accept out of descriptors, say) leaves
// both sockets as they were and is tried again, a little later each time,
// for up to settleTime; then the fenced socket is closed all the same,
// resetting the clients its queue still holds: the successor's, which may
// be many, must not wait for it for good.
func (l *Listener) takeOverWhenSettled(s *socket, settleTime time.Duration) {
	defer l.takeovers.Done()
	<-s.succ.watch.ended()
	giveUp := time.Now().Add(settleTime)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		l.opMu.Lock()
		if l.sock.Load() != s || l.State() != Accepting {
			l.opMu.Unlock()
			return
		}
		err := l.takeOverNowOpLocked(s, time.Now().After(giveUp))
		l.opMu.Unlock()
		if err == nil {
			return
		}
		l.logger.Debug("acceptgate: the socket bound beside could not take over yet", "addr", s.ln.Addr().String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.succ.gone:
			t.Stop()
		}
	}
}

// takeOverNowOpLocked takes over from s, a socket with a successor, keeping
// Accept out of the sockets meanwhile, outside a transition (which does
// that itself).
func (l *Listener) takeOverNowOpLocked(s *socket, force bool) error {
	state := l.State()
	open := socketOpen(l.mode.Load() &^ pendingFlag)
	if open {
		l.setModeOpLocked(state, false)
		l.stopAcceptsOpLocked(s)
	}
	_, err := l.takeOverOpLocked(s, force)
	if open {
		l.setModeOpLocked(state, true)
	}
	return err
}

// takeOverOpLocked makes s's successor the gate's socket and returns it.
// No goroutine may be in s's Accept. The fenced socket stops once its queue
// is taken out and no handshake is under way on it, as a replaced socket
// does, without a count where the watch found none or has outlived its
// bound, and is closed. Where that stop fails, s stays the gate's socket,
// listening behind its fence with its successor beside it, what the stop
// took out is pending, and the error is returned; with force the socket
// is closed all the same, resetting the clients its queue still holds.
func (l *Listener) takeOverOpLocked(s *socket, force bool) (*socket, error) {
	settled := s.succ.watch.stop()
	if err := l.stopWhenSettledOpLocked(s, !settled && !s.succ.watch.outlived()); err != nil {
		if !force {
			return s, err
		}
		l.logger.Warn("acceptgate: the fenced socket Resume replaced could not stop in order; closing it resets the clients left in its queue",
			"addr", s.ln.Addr().String(), "error", err.Error())
	}
	s.succ.end()
	s.ln.Close()
	next := s.succ.next
	l.sock.Store(next)
	return next, nil
}

// end says the successor is no longer waiting to take over.
func (su *successor) end() { su.once.Do(func() { close(su.gone) }) }

// closeReplaced closes s, with a successor, and the successor.
func (s *socket) closeReplaced() error {
	s.succ.watch.stop()
	s.succ.end()
	return errors.Join(s.ln.Close(), s.succ.next.close())
}

// queuedBeside returns how many clients wait in the queue of s's
// successor, which new clients reach until the take-over; 0 without one.
func (s *socket) queuedBeside() int {
	if s.succ == nil {
		return 0
	}
	if sc, ok := s.succ.next.ln.(syscall.Conn); ok {
		if q, err := backlog.Of(sc); err == nil {
			return q.Len
		}
	}
	return 0
}
