package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/acceptgate/acceptgate/listener"
)

// socket is the listener the gate currently takes connections from, and how
// it refuses clients while rejecting. Reject and Resume may replace it, so
// the gate reaches it through an atomic pointer; its fields never change.
type socket struct {
	ln net.Listener
	// wake sets the listener's deadline: a time in the past wakes goroutines
	// blocked in Accept. nil when the listener has no SetDeadline.
	wake func(time.Time) error
	// cfg is what a new socket at the same address is made with.
	cfg listener.Config
	// own is set on sockets the gate created itself (Listen): no one else
	// holds them, so the gate may close one and bind a new one in its place.
	own bool

	// While rejecting, the fields below say how the socket refuses clients;
	// all are zero while it accepts or is paused.

	// unfence lifts the fence a Linux TCP socket listens behind while it
	// rejects: clients are refused, while handshakes already under way
	// still complete into its queue and Accept delivers them.
	unfence func() error
	// hidden is set on a unix socket that listens on, unreachable: its path
	// leads to a socket that refuses.
	hidden *hiding
	// stopped is set on a Linux TCP socket that stopped listening (no fence
	// could be put up); release gives back the port held meanwhile.
	stopped bool
	release func() error
	// mustBind is set on a socket that was closed, so that Resume binds a
	// new one at its address with network (Unix systems other than Linux).
	mustBind bool
	network  string
}

func newSocket(ln net.Listener, cfg listener.Config, own bool) *socket {
	s := &socket{ln: ln, cfg: cfg, own: own}
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		s.wake = d.SetDeadline
	}
	return s
}

// accepting returns a copy of s that listens as usual.
func (s *socket) accepting() *socket {
	return &socket{ln: s.ln, wake: s.wake, cfg: s.cfg, own: s.own}
}

// delivers reports whether, while rejecting, Accept still takes connections
// from the socket: the ones the kernel had admitted before it refused.
func (s *socket) delivers() bool { return s.unfence != nil || s.hidden != nil }

// listening reports whether the socket listens, so that its accept queue can
// be read.
func (s *socket) listening() bool { return !s.stopped && !s.mustBind }

var errNoSocket = fmt.Errorf("listener exposes no socket to stop listening: %w", errors.ErrUnsupported)
