package acceptgate

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// settleTime bounds how long a TCP socket that must stop listening waits for
// the handshakes under way on it to complete, so that the kernel does not
// reset their clients. TCP sends the SYN-ACK again after one second: a
// handshake not done by then has lost a packet or belongs to a
// TCP_DEFER_ACCEPT client that has sent nothing.
var settleTime = time.Second

// rejectTCPLocked fences the socket where the fence can be lifted again: it
// goes on listening, refusing new clients, and Accept delivers the ones it
// had admitted. Elsewhere it stops the socket listening once no handshake is
// under way.
//
// A member of an SO_REUSEPORT group is never fenced: the group's hash still
// hands a fenced member its share of new clients, which it cannot answer
// (its SYN-ACK would leave through the fence's interface), so they would
// wait a second for their SYN to be sent again. It stops instead, leaving
// the group, and the others take every new client.
func (l *Listener) rejectTCPLocked(s *socket) (*socket, error) {
	// A socket the gate created can always be replaced if the fence cannot
	// be lifted; one that others may hold must be lifted in place.
	if !inGroup(s) && (s.own || canUnfence()) {
		unfence, err := fence(s)
		if err == nil {
			ns := s.accepting()
			ns.fence = unfence
			return ns, nil
		}
		l.logger.Debug("acceptgate: reject without a fence", "addr", s.ln.Addr().String(), "reason", err.Error())
	}
	ns := s.accepting()
	if ns.cfg.Backlog <= 0 {
		// Listen again with the backlog the socket has, which Wrap's
		// caller may have chosen.
		if q, err := backlog.Of(s.ln.(syscall.Conn)); err == nil {
			ns.cfg.Backlog = q.Limit
		}
	}
	if err := l.stopWhenSettledLocked(s); err != nil {
		return nil, err
	}
	ns.stopped = true
	if err := faults.Check(faults.Hold); err == nil {
		// Best effort: a port taken in this instant is reported by Resume.
		ns.release, _ = sockets.HoldPort(s.ln)
	}
	return ns, nil
}

// inGroup reports whether the socket has SO_REUSEPORT, so that others may
// share its address.
func inGroup(s *socket) bool {
	on := false
	rc, err := s.ln.(syscall.Conn).SyscallConn()
	if err == nil {
		rc.Control(func(fd uintptr) {
			v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT)
			on = err == nil && v != 0
		})
	}
	return on
}

func fence(s *socket) (unfence func() error, err error) {
	if err := faults.Check(faults.Fence); err != nil {
		return nil, err
	}
	lift, err := sockets.Fence(s.ln)
	if err != nil {
		return nil, err
	}
	return func() error {
		if err := faults.Check(faults.Unfence); err != nil {
			return err
		}
		return lift()
	}, nil
}

// canUnfence reports whether this process may lift a fence.
func canUnfence() bool {
	return faults.Check(faults.Probe) == nil && sockets.CanLiftFence()
}

// liftTCPLocked makes a rejecting TCP socket accept again on its address.
func (l *Listener) liftTCPLocked(s *socket) (*socket, error) {
	if s.fence != nil {
		if err := s.fence(); err != nil {
			if !s.own {
				return nil, err // still fenced: still rejecting
			}
			return l.replaceLocked(s)
		}
		lifted := *s
		lifted.fence = nil
		s = &lifted
	}
	if s.stopped {
		return restart(s)
	}
	return s.accepting(), nil
}

// replaceLocked stands in for lifting a fence that this process may not
// lift: the fenced socket, which no one else holds, lets its last handshakes
// complete, hands over its queue and closes, and a new socket with the same
// options listens on its address. New clients are refused throughout.
func (l *Listener) replaceLocked(s *socket) (*socket, error) {
	if !s.stopped {
		if err := l.stopWhenSettledLocked(s); err != nil {
			return nil, err
		}
	}
	ln, err := rebind(s)
	if err != nil {
		// Listen behind the fence again: still rejecting, still delivering.
		if rerr := relisten(s); rerr != nil {
			ns := *s
			ns.stopped = true // bound again by the next Resume
			return &ns, err
		}
		ns := *s
		ns.stopped = false
		return &ns, err
	}
	s.ln.Close()
	return newSocket(ln, s.cfg, true), nil
}

func rebind(s *socket) (net.Listener, error) {
	if err := faults.Check(faults.Bind); err != nil {
		return nil, err
	}
	network, err := tcpNetwork(s.ln)
	if err != nil {
		return nil, err
	}
	return s.cfg.Listen(context.Background(), network, s.ln.Addr().String())
}

func relisten(s *socket) error {
	if err := faults.Check(faults.Listen); err != nil {
		return err
	}
	return sockets.Relisten(s.ln, s.cfg.Backlog)
}

// restart listens again on the descriptor stopWhenSettledLocked stopped, on
// the same address and port.
func restart(s *socket) (*socket, error) {
	if s.release != nil {
		if err := s.release(); err != nil {
			return nil, err
		}
	}
	if err := relisten(s); err != nil {
		ns := *s
		if err := faults.Check(faults.Hold); err == nil {
			ns.release, _ = sockets.HoldPort(s.ln) // hold it again for the next try
		} else {
			ns.release = nil
		}
		return &ns, err
	}
	return s.accepting(), nil
}

// restoreForOthers makes a rejecting socket listen as it did before Reject,
// for the other processes that hold it, before the gate lets go of it.
func (s *socket) restoreForOthers() {
	if s.fence != nil {
		_ = s.fence()
	}
	if s.stopped {
		if s.release != nil {
			_ = s.release()
		}
		_ = relisten(s)
	}
}

// stopWhenSettledLocked stops s listening at a moment when no client is
// waiting in its accept queue and no handshake is under way, so that the
// kernel resets no one: it takes the queue out into l.pending and waits, up
// to settleTime, for handshakes to complete. Past that it stops anyway, and
// clients whose handshake is still under way are reset. On error s still
// listens, and what was taken out is pending.
func (l *Listener) stopWhenSettledLocked(s *socket) error {
	sc, ok := s.ln.(syscall.Conn)
	if !ok || s.wake == nil {
		return errNoSocket
	}
	defer s.wake(time.Unix(1, 0)) // no one may accept from it any more
	late := time.Now().Add(settleTime)
	for {
		if err := l.drainLocked(s, sc); err != nil {
			return err
		}
		stopped, err := stopIfSettled(sc, time.Now().After(late))
		if err != nil || stopped {
			return err
		}
		// A handshake is under way: the next client to complete wakes us.
		if _, err := l.acceptOneLocked(s, time.Millisecond); err != nil {
			return err
		}
	}
}

// drainLocked takes every connection in s's accept queue into l.pending.
func (l *Listener) drainLocked(s *socket, sc syscall.Conn) error {
	for {
		q, err := backlog.Of(sc)
		if err != nil {
			return err
		}
		if q.Len == 0 {
			return nil
		}
		for range q.Len {
			if _, err := l.acceptOneLocked(s, time.Second); err != nil {
				return err
			}
		}
	}
}

// acceptOneLocked takes one connection from s into l.pending, waiting up to
// wait for one. It reports whether it took one.
func (l *Listener) acceptOneLocked(s *socket, wait time.Duration) (bool, error) {
	if err := s.wake(time.Now().Add(wait)); err != nil {
		return false, err
	}
	if err := faults.Check(faults.Accept); err != nil {
		return false, err
	}
	c, err := s.ln.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.pending = append(l.pending, c)
	return true, nil
}

// stopIfSettled shuts the socket down if its accept queue is empty and no
// handshake is under way, or at once if force. The checks and the shutdown
// follow each other within microseconds: a client that completes its
// handshake in between is the one the kernel can still reset.
func stopIfSettled(sc syscall.Conn, force bool) (stopped bool, err error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	cerr := rc.Control(func(fd uintptr) {
		if !force {
			if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
				err = e
				return
			}
			if err = faults.Check(faults.Handshakes); err != nil {
				return
			}
			if n, e := backlog.Handshakes(sc); e != nil || n > 0 {
				err = e
				return
			}
			if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
				err = e
				return // one completed while we counted
			}
		}
		if err = faults.Check(faults.Shutdown); err != nil {
			return
		}
		if e := unix.Shutdown(int(fd), unix.SHUT_RD); e != nil {
			err = os.NewSyscallError("shutdown", e)
			return
		}
		stopped = true
	})
	if cerr != nil {
		return false, cerr
	}
	return stopped, err
}
