package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
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
	// faults are the steps a test made fail on this gate; nil in
	// production, where checking them costs an atomic load or two.
	faults *faults.Set

	// refusal is how the socket refuses clients while the gate rejects;
	// nil while it accepts or is paused.
	refusal refusal
}

func newSocket(ln net.Listener, cfg listener.Config, own bool, f *faults.Set) *socket {
	s := &socket{ln: ln, cfg: cfg, own: own, faults: f}
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		s.wake = d.SetDeadline
	}
	return s
}

// accepting returns a copy of s that listens as usual.
func (s *socket) accepting() *socket {
	return &socket{ln: s.ln, wake: s.wake, cfg: s.cfg, own: s.own, faults: s.faults}
}

// refusing returns a copy of s that refuses clients the way r says.
func (s *socket) refusing(r refusal) *socket {
	ns := s.accepting()
	ns.refusal = r
	return ns
}

// delivers reports whether, while rejecting, Accept still takes connections
// from the socket: the ones the kernel had admitted before it refused.
func (s *socket) delivers() bool { return s.refusal != nil && s.refusal.delivers() }

// listening reports whether the socket listens, so that its accept queue can
// be read.
func (s *socket) listening() bool { return s.refusal == nil || s.refusal.listening() }

// liftOpLocked makes a rejecting s take clients again. On error the Listener
// stays rejecting, with the socket returned if it is not nil.
func (l *Listener) liftOpLocked(s *socket) (*socket, error) {
	if s.refusal == nil {
		return s.accepting(), nil
	}
	return s.refusal.lift(l, s)
}

// close closes the socket for good, leaving it as the gate found it for
// anyone else who holds it or its path.
func (s *socket) close() error {
	if s.refusal != nil {
		return s.refusal.close(s)
	}
	return s.closeListening()
}

// A refusal is one way for a socket to refuse new clients while the gate
// rejects. Reject picks the way the socket allows (rejectOpLocked); each
// way is one type, in a file of its own, that does everything the gate and
// a handoff need of it:
//
//	fenced     fence_linux.go          bound to an interface no client arrives on; still listens
//	unreplaced fence_linux.go          fenced, stopped on its way to being replaced; Resume tries again
//	stopped    stop_linux.go           shut down once settled; holds its port
//	hiding     hide_unix.go            a unix socket whose path leads to one that refuses
//	unbound    reject_unixnotlinux.go  closed; Resume binds the address again
type refusal interface {
	// delivers reports whether Accept still takes from the socket the
	// connections the kernel admitted before it refused.
	delivers() bool
	// listening reports whether the socket still listens, so that its
	// accept queue can be read.
	listening() bool
	// lift makes s, which refuses this way, take clients again, and
	// returns the socket that now stands for the gate. On error the gate
	// goes on rejecting, with the socket returned if it is not nil.
	lift(l *Listener, s *socket) (*socket, error)
	// close closes s for good, first undoing what refusing did where that
	// outlives the gate: a hidden listener gets its path back, a socket
	// others hold listens again.
	close(s *socket) error
	// describe says in hs how the socket refuses, for the process that
	// takes it over (handover_unix.go); extraFDs are the descriptors that
	// go with the listener's.
	describe(hs *handover.Socket) error
	extraFDs() []int
	// letGo closes what refusing made, without touching the socket: the
	// process that took it over refuses with it now.
	letGo() error
}

var errNoSocket = fmt.Errorf("listener exposes no socket to stop listening: %w", errors.ErrUnsupported)
