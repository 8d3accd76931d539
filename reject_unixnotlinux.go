//go:build unix && !linux

package acceptgate

import (
	"context"

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
	ns := s.accepting()
	ns.mustBind, ns.network = true, network
	return ns, nil
}

func (l *Listener) liftTCPOpLocked(s *socket) (*socket, error) {
	if !s.mustBind {
		return s.accepting(), nil
	}
	ln, err := s.cfg.Listen(context.Background(), s.network, s.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	return newSocket(ln, s.cfg, s.own), nil
}

func (s *socket) restoreForOthers() error { return nil }
