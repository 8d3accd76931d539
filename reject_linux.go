package acceptgate

import (
	"context"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

// rejectTCPOpLocked fences the socket where the fence can be lifted again: it
// goes on listening, refusing new clients, and Accept delivers the ones it
// had admitted. Elsewhere it stops the socket listening once no handshake is
// under way.
//
// A member of an SO_REUSEPORT group is never fenced: the group's hash still
// hands a fenced member its share of new clients, which it cannot answer
// (its SYN-ACK would leave through the fence's interface), so they would
// wait a second for their SYN to be sent again. It stops instead, leaving
// the group, and the others take every new client. It waits for the
// group's handshakes, unless the kernel hands them to the other members
// (handsOffHandshakes).
func (l *Listener) rejectTCPOpLocked(s *socket) (*socket, error) {
	// A socket the gate created can always be replaced if the fence cannot
	// be lifted; one that others may hold must be lifted in place.
	if !inGroup(s) && (s.own || canUnfence()) {
		unfence, err := fence(s)
		if err == nil {
			ns := s.accepting()
			ns.unfence = unfence
			return ns, nil
		}
		l.logger.Debug("acceptgate: reject without a fence", "addr", s.ln.Addr().String(), "reason", err.Error())
	}
	ns := s.accepting()
	ns.cfg = liveConfig(s) // read while it listens: Resume listens with it
	if err := l.stopWhenSettledOpLocked(s); err != nil {
		return nil, err
	}
	ns.stopped = true
	if err := faults.Check(faults.Hold); err == nil {
		// Best effort: a port taken in this instant is reported by Resume.
		ns.release, _ = sockets.HoldPort(s.ln)
	}
	return ns, nil
}

// liveConfig returns the options to make s's socket listen again with, or
// a socket in its place: s's own, with the accept queue limit the socket has
// now. backlog.Resize may have changed that limit since the gate made or
// was given the socket, and the config cannot know; a socket that listens
// anew must keep it. Where the limit cannot be read, s's options stay.
func liveConfig(s *socket) listener.Config {
	cfg := s.cfg
	if sc, ok := s.ln.(syscall.Conn); ok {
		if q, err := backlog.Of(sc); err == nil {
			cfg.Backlog = q.Limit
		}
	}
	return cfg
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

// liftTCPOpLocked makes a rejecting TCP socket accept again on its address.
func (l *Listener) liftTCPOpLocked(s *socket) (*socket, error) {
	if s.unfence != nil {
		if err := s.unfence(); err != nil {
			if !s.own {
				return nil, err // still fenced: still rejecting
			}
			return l.replaceOpLocked(s)
		}
		lifted := *s
		lifted.unfence = nil
		s = &lifted
	}
	if s.stopped {
		return relistenStopped(s)
	}
	return s.accepting(), nil
}

// replaceOpLocked stands in for lifting a fence that this process may not
// lift: the fenced socket, which no one else holds, lets its last handshakes
// complete, hands over its queue and closes, and a new socket with the same
// options listens on its address. New clients are refused throughout.
func (l *Listener) replaceOpLocked(s *socket) (*socket, error) {
	if !s.stopped {
		// The replacement, and this socket if it must listen again, get
		// the queue limit it has now; once stopped it can no longer tell.
		live := *s
		live.cfg = liveConfig(s)
		s = &live
		if err := l.stopWhenSettledOpLocked(s); err != nil {
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

// relistenStopped listens again on the descriptor stopWhenSettledOpLocked
// stopped, on the same address and port, after giving back the hold on it.
func relistenStopped(s *socket) (*socket, error) {
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
func (s *socket) restoreForOthers() error {
	var errs []error
	if s.unfence != nil {
		errs = append(errs, s.unfence())
	}
	if s.stopped {
		if s.release != nil {
			errs = append(errs, s.release())
		}
		errs = append(errs, relisten(s))
	}
	return errors.Join(errs...)
}
