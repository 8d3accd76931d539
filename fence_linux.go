package acceptgate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// fenced is the refusal of a TCP socket bound (SO_BINDTODEVICE) to an
// interface no client arrives on: new clients find no socket and are
// refused, while it goes on listening, so that handshakes under way, and
// TCP_DEFER_ACCEPT clients that have not sent yet, complete into its queue
// and Accept delivers them.
//
// Resume lifts the fence where this process may (CAP_NET_RAW). Where it
// may not, a socket the gate created is replaced: by one bound beside it,
// while it retires (retire_linux.go), or, where that cannot bind, in turn
// (replaceOpLocked); one
// that others may hold goes on rejecting, so Reject fences only where one
// of the two will work.
type fenced struct {
	unfence func() error
	// settle watches, where Resume will replace the socket, for the moment
	// no handshake is under way on it any more; nil where it need not.
	settle *settleWatch
}

// fence puts s behind the fence.
func fence(s *socket) (*fenced, error) {
	if err := s.faults.Check(faults.Fence); err != nil {
		return nil, err
	}
	lift, err := sockets.Fence(s.ln)
	if err != nil {
		return nil, err
	}
	return &fenced{unfence: lift}, nil
}

// adoptFenced takes over the fence of a socket another process handed over.
func adoptFenced(ln net.Listener, own bool, f *faults.Set) (*fenced, error) {
	if !own && !canUnfence(f) {
		// Resume could neither lift the fence nor replace a socket
		// others may hold: the gate would reject for good.
		return nil, fmt.Errorf("a fenced socket the gate did not create, and this process may not unfence (CAP_NET_RAW): %w", os.ErrPermission)
	}
	return &fenced{unfence: func() error { return sockets.Unfence(ln) }}, nil
}

// canUnfence reports whether this process may lift a fence.
func canUnfence(f *faults.Set) bool {
	return f.Check(faults.Probe) == nil && sockets.CanLiftFence()
}

func (f *fenced) delivers() bool  { return true }
func (f *fenced) listening() bool { return true }

func (f *fenced) lift(l *Listener, s *socket) (*socket, error) {
	if err := s.unfence(f.unfence); err != nil {
		if !s.own {
			return nil, err // still fenced: still rejecting
		}
		if ns := l.replaceBesideOpLocked(s, f.settle); ns != nil {
			return ns, nil
		}
		return l.replaceOpLocked(s, f.unfence, f.settle.stop())
	}
	f.settle.stop()
	return s.accepting(), nil
}

// replaceOpLocked stands in for lifting a fence that this process may not
// lift: the fenced socket, which no one else holds, lets its last handshakes
// complete, hands over its queue and closes, and a new socket with the same
// options listens on its address. New clients are refused throughout.
// settled says a count since the fence found no handshake under way on
// the socket, so that none can be (see settleWatch).
func (l *Listener) replaceOpLocked(s *socket, unfence func() error, settled bool) (*socket, error) {
	// The replacement binds alone on the address: older fenced sockets
	// still delivering their last clients stop first.
	if err := l.finishRetireesOpLocked(); err != nil {
		return nil, err
	}
	// The replacement, and this socket if it must listen again, get the
	// queue limit it has now; once stopped it can no longer tell.
	live := *s
	live.cfg = liveConfig(s)
	s = &live
	if err := l.stopWhenSettledOpLocked(s, !settled); err != nil {
		return nil, err // still listening behind the fence
	}
	return bindReplacement(s, unfence)
}

// bindReplacement binds a new socket in place of s, fenced and stopped,
// and closes s. Where the new one cannot bind, s listens behind its fence
// again, still rejecting and delivering, or, if it cannot, stays stopped
// (unreplaced) for the next Resume to try again.
func bindReplacement(s *socket, unfence func() error) (*socket, error) {
	ln, err := rebind(s)
	if err != nil {
		if rerr := relisten(s); rerr != nil {
			return s.refusing(&unreplaced{unfence: unfence}), err
		}
		return s.refusing(&fenced{unfence: unfence}), err
	}
	s.ln.Close()
	return newSocket(ln, s.cfg, true, s.faults), nil
}

func rebind(s *socket) (net.Listener, error) {
	if err := s.faults.Check(faults.Bind); err != nil {
		return nil, err
	}
	network, err := tcpNetwork(s.ln)
	if err != nil {
		return nil, err
	}
	return s.cfg.Listen(context.Background(), network, s.ln.Addr().String())
}

// close lifts the fence first for the socket's other holders, if the gate
// did not create it.
func (f *fenced) close(s *socket) error {
	f.settle.stop()
	return s.closeForOthers(func() error { return s.unfence(f.unfence) })
}

// unfence lifts s's fence with lift, unless a test made that step fail on
// this gate.
func (s *socket) unfence(lift func() error) error {
	if err := s.faults.Check(faults.Unfence); err != nil {
		return err
	}
	return lift()
}

func (f *fenced) describe(hs *handover.Socket) error {
	hs.Reject = handover.RejectFenced
	return nil
}

func (f *fenced) extraFDs() []int { return nil }

func (f *fenced) letGo() error {
	f.settle.stop()
	return nil
}

// unreplaced is the refusal of a fenced socket the gate created that
// stopped listening on its way to being replaced, when the new socket could
// not bind and it could not listen behind its fence again. Clients are
// refused, as behind the fence, and nothing is left to deliver: its queue
// was taken out before it stopped. Resume tries again: it lifts the fence
// and listens on the same descriptor where it now may, else binds the
// replacement.
type unreplaced struct{ unfence func() error }

func (u *unreplaced) delivers() bool  { return false }
func (u *unreplaced) listening() bool { return false }

func (u *unreplaced) lift(l *Listener, s *socket) (*socket, error) {
	if err := s.unfence(u.unfence); err != nil {
		return bindReplacement(s, u.unfence)
	}
	st := &stopped{} // unfenced, still not listening
	return st.lift(l, s.refusing(st))
}

// close closes the socket: the gate created it, so no one else holds it.
func (u *unreplaced) close(s *socket) error { return s.ln.Close() }

func (u *unreplaced) describe(*handover.Socket) error {
	return fmt.Errorf("a socket stopped on its way to being replaced cannot be handed over: %w", errors.ErrUnsupported)
}

func (u *unreplaced) extraFDs() []int { return nil }
func (u *unreplaced) letGo() error    { return nil }
