package acceptgate

import (
	"net"
	"syscall"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

// rejectTCP keeps the descriptor: shutdown(SHUT_RD) stops a Linux TCP socket
// listening and listen() starts it again, so the fd number, descriptors
// inherited by or handed to other processes, and socket options all survive.
// The kernel resets what is still queued at shutdown, so the queue is taken
// out first.
func rejectTCP(s *socket) (*socket, []net.Conn, error) {
	next := *s
	if next.cfg.Backlog <= 0 {
		// Listen again with the backlog the socket has, which Wrap's caller
		// may have chosen.
		if q, err := backlog.Of(s.ln.(syscall.Conn)); err == nil {
			next.cfg.Backlog = q.Limit
		}
	}
	conns, err := listener.AcceptQueued(s.ln)
	if err != nil {
		return nil, nil, err
	}
	if err := listener.StopListening(s.ln); err != nil {
		return nil, conns, err
	}
	return &next, conns, nil
}

// restartTCP listens again on the descriptor rejectTCP stopped, on the same
// address and port.
func restartTCP(s *socket) (*socket, error) {
	if err := listener.Relisten(s.ln, s.cfg.Backlog); err != nil {
		return nil, err
	}
	return s, nil
}
