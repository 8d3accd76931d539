package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/acceptgate/acceptgate/listener"
)

// socket is the listener the gate currently takes connections from. Reject
// and Resume may replace it, so the gate reaches it through an atomic
// pointer; its fields never change.
type socket struct {
	ln net.Listener
	// wake sets the listener's deadline: a time in the past wakes goroutines
	// blocked in Accept. nil when the listener has no SetDeadline.
	wake func(time.Time) error
	// cfg is what a new socket at the same address is made with.
	cfg listener.Config
	// closed is set on the socket that stands for a rejecting gate whose
	// listener was closed, to be bound again on Resume.
	closed bool
	// parked holds a unix socket path while rejecting, so that clients are
	// refused rather than told the path does not exist.
	parked *parking
	mode   os.FileMode // a unix socket file's permissions, kept across rebinds
	// unfence, when set, restores a fenced socket's interface binding; the
	// restore failed once and must succeed before it listens again.
	unfence func() error
	// release gives back the hold on a stopped socket's port.
	release func() error
}

func newSocket(ln net.Listener, cfg listener.Config) *socket {
	s := &socket{ln: ln, cfg: cfg}
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		s.wake = d.SetDeadline
	}
	return s
}

var errNoSocket = fmt.Errorf("listener exposes no socket to stop listening: %w", errors.ErrUnsupported)

func (s *socket) close() error {
	if s.parked != nil {
		s.parked.close()
	}
	if s.closed {
		return nil
	}
	return s.ln.Close()
}
