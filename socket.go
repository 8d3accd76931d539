package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// socket is the listener the gate currently takes connections from. Reject
// and Resume may replace it, so the gate reaches it through an atomic
// pointer; its fields never change.
type socket struct {
	ln net.Listener
	// wake sets the listener's deadline: a time in the past wakes goroutines
	// blocked in Accept. nil when the listener has no SetDeadline.
	wake func(time.Time) error
}

func newSocket(ln net.Listener) *socket {
	s := &socket{ln: ln}
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		s.wake = d.SetDeadline
	}
	return s
}

var errReject = fmt.Errorf("listener exposes no socket to stop listening: %w", errors.ErrUnsupported)

func (s *socket) canReject() bool { return false }

func (s *socket) relisten() (*socket, error) { return nil, errReject }

func (s *socket) close() error { return s.ln.Close() }

// reject takes out what the kernel has queued and stops the socket listening.
// l.mu must be held.
func (l *Listener) reject(s *socket) error { return errReject }
