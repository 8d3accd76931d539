package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/listener"
)

// handing is the state of a socket on its way to or from another process:
// the Listener holds it (paused, or rejecting without delivering) until the
// handoff ends. While it is set, Pause, Reject and Resume are refused.
type handing struct {
	// then is the state the hold ends in: the one the Listener had, for a
	// rollback of a socket prepared here, or the one it was handed over in,
	// for the activation of an adopted one.
	then    State
	adopted bool // the socket came from another process
	// active: an adopted socket put in the state it was handed in, served
	// here until the handoff settles, or released if the old process
	// serves it again.
	active bool
}

// ErrHandoffInProgress is wrapped by the error of a Pause, Reject or Resume
// refused because the Listener's socket is being handed to or from another
// process (package handoff). The Listener is left as it was; the call may
// be made again once the handoff ends. A transition to the state the
// Listener is in, and stays in when the handoff ends, is not refused.
var ErrHandoffInProgress = errors.New("acceptgate: socket handoff in progress")

func init() {
	handover.Of = func(gate net.Listener) (handover.Gate, bool) {
		l, ok := gate.(*Listener)
		if !ok || l == nil {
			return nil, false
		}
		return (*handoverSide)(l), true
	}
	handover.Adopt = adopt
}

// handoverSide is a Listener as package handoff sees it (handover.Gate).
type handoverSide Listener

func (g *handoverSide) Prepare() (handover.Socket, []int, error) {
	return (*Listener)(g).prepareHandover()
}
func (g *handoverSide) Rollback()                { (*Listener)(g).rollbackHandover() }
func (g *handoverSide) Release() error           { return (*Listener)(g).releaseHandover() }
func (g *handoverSide) Drained() <-chan struct{} { return (*Listener)(g).drainedHandover() }
func (g *handoverSide) Activate() error          { return (*Listener)(g).activateHandover() }
func (g *handoverSide) Settle()                  { (*Listener)(g).settleHandover() }

// prepareHandover stops the Listener taking connections from its socket,
// strictly, and returns what another process needs to take it over.
func (l *Listener) prepareHandover() (handover.Socket, []int, error) {
	l.opMu.Lock()
	defer l.reportChanges()
	defer l.opMu.Unlock()
	from := l.State()
	if from == Closed {
		return handover.Socket{}, nil, l.opError("hand over", net.ErrClosed)
	}
	if l.handing != nil {
		return handover.Socket{}, nil, l.opError("hand over", ErrHandoffInProgress)
	}
	// Only the gate's own socket is handed over: a fenced one that Resume
	// replaced, still delivering its last clients, stops first.
	if err := l.finishRetireesOpLocked(); err != nil {
		return handover.Socket{}, nil, l.opError("hand over", err)
	}
	s := l.sock.Load()
	if s.wake == nil {
		// Without a wake-up, a goroutine in Accept could take a client
		// after the other process took the socket.
		return handover.Socket{}, nil, l.opError("hand over", fmt.Errorf("%T cannot be paused strictly: %w", s.ln, errors.ErrUnsupported))
	}
	hs, err := describe(s, from)
	if err != nil {
		return handover.Socket{}, nil, l.opError("hand over", err)
	}
	switch from {
	case Accepting:
		if err := l.moveToOpLocked(Accepting, Paused); err != nil {
			return handover.Socket{}, nil, l.opError("hand over", err)
		}
	case Rejecting:
		// The kernel's queue goes with the socket: the other process
		// delivers what it admitted.
		if socketOpen(l.mode.Load() &^ pendingFlag) {
			l.setModeOpLocked(Rejecting, false)
			l.stopAcceptsOpLocked(s)
		}
	}
	fds, err := dupFDs(s)
	if err != nil {
		l.endHoldOpLocked(from)
		return handover.Socket{}, nil, l.opError("hand over", err)
	}
	l.handing = &handing{then: from}
	return hs, fds, nil
}

func (l *Listener) rollbackHandover() {
	l.opMu.Lock()
	if h := l.handing; h != nil && !h.adopted && l.State() != Closed {
		l.handing = nil
		l.endHoldOpLocked(h.then)
	}
	l.opMu.Unlock()
	l.reportChanges()
}

// endHoldOpLocked puts a Listener that holds its socket for a handoff in state
// then: accepting (from paused), or rejecting and delivering what the kernel
// admitted. Paused stays as it is.
func (l *Listener) endHoldOpLocked(then State) error {
	switch then {
	case Accepting:
		if err := l.moveToOpLocked(Paused, Accepting); err != nil {
			return err
		}
	case Rejecting:
		l.setModeOpLocked(Rejecting, true)
	}
	return nil
}

// releaseHandover closes the Listener's descriptors without touching its
// socket, which another process holds now. Connections Reject took out of
// the kernel are still delivered by Accept; then it reports net.ErrClosed.
func (l *Listener) releaseHandover() error {
	l.opMu.Lock()
	from := l.State()
	if from == Closed || l.handing == nil {
		l.opMu.Unlock()
		if from == Closed {
			return l.opError("hand over", net.ErrClosed)
		}
		return l.opError("hand over", errors.New("the socket was not prepared for handing over"))
	}
	err := l.closeOpLocked(from, true)
	l.opMu.Unlock()
	l.reportChanges()
	if err != nil {
		return l.opError("hand over", err)
	}
	return nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (l *Listener) drainedHandover() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drained != nil {
		return l.drained
	}
	return closedChan
}

// closeDrainedLocked tells Drained's callers that the last pending
// connection of a released Listener is gone.
func (l *Listener) closeDrainedLocked() {
	if l.drained != nil {
		close(l.drained)
		l.drained = nil
	}
}

// adopt makes a Listener for a socket another process handed over, in the
// state that process's prepareHandover left it, until activateHandover.
// wrap makes the Listener around the socket's listener, with the taker's
// options; the socket keeps the options it was made with (hs says which).
// adopt owns files: they are closed, or kept by the Listener.
func adopt(hs handover.Socket, files []*os.File, wrap func(net.Listener) net.Listener) (handover.Gate, error) {
	cfg := config{socket: listener.Config{
		ReusePort:   hs.ReusePort,
		ReuseAddr:   hs.ReuseAddr,
		Backlog:     hs.Backlog,
		DeferAccept: hs.DeferAccept,
		FastOpen:    hs.FastOpen,
	}}
	to, err := parseState(hs.State)
	if err != nil {
		closeFiles(files)
		return nil, err
	}
	s, err := adoptSocket(hs, to, files, cfg)
	if err != nil {
		return nil, fmt.Errorf("acceptgate: adopt %s %s: %w", hs.Network, hs.Address, err)
	}
	l, ok := wrap(s.ln).(*Listener)
	if !ok || l == nil || l.sock.Load().ln != s.ln {
		s.letGo()
		return nil, fmt.Errorf("acceptgate: adopt %s %s: wrap made no gate around the socket", hs.Network, hs.Address)
	}
	// Not shared yet: no lock is needed to set it up. The socket takes the
	// faults a test gave the taker's gate (WithFaults in wrap).
	s.faults = l.sock.Load().faults
	l.sock.Store(s)
	held := Paused
	if to == Rejecting {
		held = Rejecting
	}
	l.mode.Store(int32(held))
	l.handing = &handing{then: to, adopted: true}
	return (*handoverSide)(l), nil
}

func parseState(name string) (State, error) {
	for _, s := range []State{Accepting, Paused, Rejecting} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("acceptgate: no state %q to adopt a socket in", name)
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// activateHandover puts an adopted Listener in the state its socket was
// handed over in. The handoff goes on until settleHandover or
// releaseHandover: the old process may still serve the socket again, and
// this one must then let go of it as it came, untouched.
func (l *Listener) activateHandover() error {
	l.opMu.Lock()
	h := l.handing
	if h == nil || !h.adopted || h.active || l.State() == Closed {
		l.opMu.Unlock()
		return l.opError("take over", errors.New("not an adopted socket waiting to be activated"))
	}
	err := l.endHoldOpLocked(h.then)
	if err == nil {
		h.active = true
	}
	l.opMu.Unlock()
	l.reportChanges()
	if err != nil {
		return l.opError("take over", err)
	}
	return nil
}

// settleHandover ends an adopted Listener's handoff: the socket is its own.
// One that could not be activated stays as it came, and takes transitions.
func (l *Listener) settleHandover() {
	l.opMu.Lock()
	if h := l.handing; h != nil && h.adopted {
		l.handing = nil
	}
	l.opMu.Unlock()
}
