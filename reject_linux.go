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
		for i := 0; i < 3 && err == nil; i++ {
			runtime.Gosched()
			var more []net.Conn
			more, err = listener.AcceptQueued(s.ln)
			conns = append(conns, more...)
		}
	}
	if err == nil {
		err = listener.StopListening(s.ln)
	}
	if err != nil {
		// Still listening: undo the fence and change nothing, but deliver
		// whatever was taken out.
		if ferr == nil {
			unfence()
		}
		return nil, conns, err
	}
	// Stopped: from here Reject succeeds. A fence that will not come off
	// is retried by Resume, which must not listen behind it.
	if ferr == nil {
		if err := unfence(); err != nil {
			next.unfence = unfence
		}
	}
	// After the unfence, as an IPv6 address cannot be bound on the fence's
	// interface. Best effort: a port taken in this instant is reported by
	// Resume.
	next.release, _ = listener.HoldPort(s.ln)
	return &next, conns, nil
}

// restartTCP listens again on the descriptor rejectTCP stopped, on the same
// address and port.
func restartTCP(s *socket) (*socket, error) {
	if s.unfence != nil {
		if err := s.unfence(); err != nil {
			return nil, err
		}
	}
	if s.release != nil {
		if err := s.release(); err != nil {
			return nil, err
		}
	}
	if err := listener.Relisten(s.ln, s.cfg.Backlog); err != nil {
		next := *s
		next.release, _ = listener.HoldPort(s.ln) // hold it again for the next try
		return &next, err
	}
	next := *s
	next.release, next.unfence = nil, nil
	return &next, nil
}
