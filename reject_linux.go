package acceptgate

import (
	"net"
	"runtime"
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
	// Without a fence, a client whose handshake completes between the last
	// accept and shutdown() is reset by the kernel; with it, new clients are
	// refused from here on and the queue can only shrink.
	unfence, ferr := listener.Fence(s.ln)
	conns, err := listener.AcceptQueued(s.ln)
	if err == nil && ferr == nil {
		// Handshakes already under way when the fence went up complete
		// within microseconds on a local path; give them the chance.
		for range 3 {
			runtime.Gosched()
			more, aerr := listener.AcceptQueued(s.ln)
			conns, err = append(conns, more...), aerr
		}
	}
	if err == nil {
		err = listener.StopListening(s.ln)
	}
	if ferr == nil {
		if uerr := unfence(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		if len(conns) == 0 {
			return nil, nil, err
		}
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
