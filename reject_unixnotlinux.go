//go:build unix && !linux

package acceptgate

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// rejectTCPOpLocked closes the listener after taking out its queue; Resume
// binds its address again. Only Linux can listen again on a stopped
// descriptor.
func (l *Listener) rejectTCPOpLocked(s *socket) (*socket, error) {
	network, err := tcpNetwork(s.ln)
	if err != nil {
		return nil, err
	}
	conns, err := sockets.AcceptQueued(s.ln)
	l.addPending(conns...)
	if err != nil {
		return nil, err
	}
	s.ln.Close()
	return s.refusing(&unbound{network: network}), nil
}

func (s *socket) tcpRefusalMethod() string {
	return "closed once its queue is taken out; Resume binds a new socket at the address"
}

// unbound is the refusal of a TCP socket that was closed: no socket is at
// the address, so clients are refused. Resume binds a new socket there
// with network and the socket's options.
type unbound struct{ network string }

func (u *unbound) delivers() bool  { return false }
func (u *unbound) listening() bool { return false }

func (u *unbound) lift(_ *Listener, s *socket) (*socket, error) {
	ln, err := s.cfg.Listen(context.Background(), u.network, s.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	return newSocket(ln, s.cfg, s.own, s.faults), nil
}

func (u *unbound) close(*socket) error { return nil } // closed already

func (u *unbound) describe(*handover.Socket) error {
	return fmt.Errorf("a closed socket cannot be handed over: %w", errors.ErrUnsupported)
}

func (u *unbound) extraFDs() []int { return nil }
func (u *unbound) letGo() error    { return nil }

// adoptTCPRefusal refuses the ways a Linux process refuses with: a fence
// or a stopped socket cannot be lifted here.
func adoptTCPRefusal(hs handover.Socket, _ net.Listener, _ *faults.Set) (refusal, error) {
	return nil, fmt.Errorf("a %s TCP socket cannot be taken over here: %w", hs.Reject, errors.ErrUnsupported)
}
