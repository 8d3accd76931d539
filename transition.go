package acceptgate

import (
	"fmt"
	"net"
	"time"
)

// Pause stops the Listener taking connections from the kernel. New clients
// complete the handshake and wait in the kernel's accept queue until Resume.
//
// Once Pause returns, no connection is taken from the kernel: goroutines
// blocked in the wrapped listener's Accept are woken through its SetDeadline
// method, and Pause waits until they are out. A connection one of them took
// before that is delivered, never dropped. If the wrapped listener has no
// SetDeadline method, a goroutine already blocked in its Accept cannot be
// woken and may still take one connection, which it delivers.
//
// Pause on a paused Listener does nothing. Pause from Rejecting listens again
// first, as Resume does. Pause on a closed Listener returns an error wrapping
// net.ErrClosed.
//
// While the socket is being handed to or from another process (package
// handoff), Pause, Reject and Resume change nothing and return an error
// wrapping ErrHandoffInProgress, unless the Listener is already in the
// state asked for and stays in it when the handoff ends: then, as always,
// they do nothing and return nil.
func (l *Listener) Pause() error { return l.transition(Paused, "pause") }

// Resume makes the Listener accept again, on the same address, from Paused or
// Rejecting. Resume on an accepting Listener does nothing; on a closed one it
// returns an error wrapping net.ErrClosed. If the socket cannot listen again
// (its address was taken while rejecting, a step failed), Resume returns the
// error, the Listener stays rejecting and goes on refusing clients, and a
// later Resume may try again.
func (l *Listener) Resume() error { return l.transition(Accepting, "resume") }

// Reject makes the socket refuse new clients at once, while Accept goes on
// delivering the clients the kernel admitted before: those in its accept
// queue and those whose handshake was under way.
//
// On Linux, a TCP socket is fenced: bound (SO_BINDTODEVICE) to an interface
// no client arrives on, it refuses new clients while it goes on listening,
// and Accept delivers the rest. Where the fence cannot be lifted again
// (CAP_NET_RAW is needed for that) only a socket Listen created is fenced,
// and Resume replaces it with a new socket on the same address, bound
// beside the fenced one: Resume returns at once and Accept takes from the
// new socket, while the fenced one still hands Accept the clients whose
// handshake was under way, and closes once none is (about a second after
// the Reject at most). A member of
// an SO_REUSEPORT group (whose hash would still hand a fenced member new
// clients), a socket where no interface fits (a network namespace with only
// lo) and a socket given to Wrap without that privilege stop listening
// instead, once their queue is taken out and no handshake is
// under way (waiting up to a second for handshakes). A group member cannot
// tell its handshakes from the other members', so it waits until none is
// under way on the address, as long as the bound allows; with
// net.ipv4.tcp_migrate_req=1, where the kernel hands a stopped member's
// handshakes to the members still listening, it does not wait. A unix socket's path is
// made to lead to a socket that refuses, while the listener waits unreachable
// and unchanged. Elsewhere the socket is closed and bound again by Resume.
//
// If Reject fails it returns the error and the Listener stays as it was;
// connections it had already taken out of the kernel are delivered. On
// Linux, Reject of a unix socket whose path leads to another socket (a new
// instance removed the file and bound there) fails with an error wrapping
// syscall.EADDRINUSE: the path is that socket's to refuse at, not the
// Listener's.
// Reject returns an error wrapping errors.ErrUnsupported, and changes
// nothing, when the wrapped listener exposes no socket to stop (a
// tls.Listener, for one: wrap the TCP listener inside it instead, as in
// tls.NewListener(acceptgate.Wrap(tcp), config)), for an abstract or
// unnamed unix socket, or for a unix listener without a SetUnlinkOnClose
// method (as *net.UnixListener has), whose Close could not be kept from
// removing a path another socket took while it rejected.
func (l *Listener) Reject() error { return l.transition(Rejecting, "reject") }

func (l *Listener) transition(to State, verb string) error {
	l.opMu.Lock()
	from := l.State()
	if from == Closed {
		l.opMu.Unlock()
		return l.opError(verb, net.ErrClosed)
	}
	if from == to && (l.handing == nil || l.handing.then == to) {
		l.opMu.Unlock()
		return nil // repeated: nothing to change, during a handoff or not
	}
	if l.handing != nil {
		l.opMu.Unlock()
		return l.opError(verb, ErrHandoffInProgress)
	}
	err := l.moveToOpLocked(from, to)
	l.opMu.Unlock()
	l.reportChanges()
	if err != nil {
		return l.opError(verb, err)
	}
	return nil
}

// moveToOpLocked does the socket work of a transition, stores the new
// mode and records the transition. On error the Listener is left in from,
// and whatever the work took out of the kernel is pending, to be delivered
// (Accept delivers it meanwhile too: see addPending).
func (l *Listener) moveToOpLocked(from, to State) error {
	s := l.sock.Load()
	if to == Rejecting && !s.canReject() {
		return errNoSocket
	}
	// No goroutine may be inside the socket's Accept while it changes: one
	// could take a client the new state should not, or miss a wake-up.
	// Meanwhile State still reads from: the socket has not changed yet.
	if socketOpen(l.mode.Load() &^ pendingFlag) {
		l.setModeOpLocked(from, false)
		l.stopAcceptsOpLocked(s)
	}
	var ns *socket
	var err error
	if from == Rejecting {
		ns, err = l.liftOpLocked(s)
	} else if to == Rejecting {
		ns, err = l.rejectOpLocked(s)
	}
	if ns != nil {
		l.sock.Store(ns)
	}
	if err != nil {
		l.setModeOpLocked(from, true) // with what the work left pending
		return err
	}
	l.enterOpLocked(from, to)
	return nil
}

// setModeOpLocked stores state s with the flags that fit it: pending while
// connections wait for delivery, deliver while a rejecting socket still
// hands out clients, held unless open. With open, a mode in which Accept
// takes from the socket clears the wake-up deadline, which would fail its
// next Accept.
func (l *Listener) setModeOpLocked(s State, open bool) {
	m := l.modeOpLocked(s, open)
	l.mu.Lock()
	l.storeModeLocked(m | l.pendingFlagLocked())
	l.mu.Unlock()
}

// enterOpLocked stores state to as setModeOpLocked does and records the
// transition from from in the same step under mu, so that Stats never
// pairs the new state with the counters of the one before.
func (l *Listener) enterOpLocked(from, to State) {
	m := l.modeOpLocked(to, true)
	l.mu.Lock()
	l.storeModeLocked(m | l.pendingFlagLocked())
	l.enterLocked(from, to)
	l.mu.Unlock()
}

// modeOpLocked returns the mode for state s with the flags the socket
// gives it (all but pending), clearing the wake-up deadline if Accept is
// to take from the socket.
func (l *Listener) modeOpLocked(s State, open bool) int32 {
	m := int32(s)
	sock := l.sock.Load()
	switch {
	case !open:
		m |= heldFlag
	case s == Rejecting && sock.delivers():
		m |= deliverFlag
	}
	if socketOpen(m) && sock.wake != nil {
		_ = sock.wake(time.Time{})
	}
	return m
}

func (l *Listener) pendingFlagLocked() int32 {
	if len(l.pending) > 0 {
		return pendingFlag
	}
	return 0
}

// storeModeLocked stores mode m and, if it differs from the mode before,
// wakes every goroutine waiting for a change. A waiter waits for a state,
// for connections to deliver or for the last of them to go, all of which
// show in the mode word, or for a slot, which the tracker wakes it for:
// the mode being stored here and nowhere else is what keeps any change of
// it from leaving a waiter asleep.
func (l *Listener) storeModeLocked(m int32) {
	if l.mode.Swap(m) != m {
		l.broadcastLocked()
	}
}

// wakeWait bounds how long a transition waits for goroutines to leave the
// wrapped Accept after setting a deadline in the past.
var wakeWait = time.Second

// stopAcceptsOpLocked wakes goroutines blocked in the wrapped Accept and waits until
// none is left inside it. The mode must already keep them from going back.
// The netpoller does not notice the state change by itself; a deadline in
// the past makes it return at once, and also makes any later Accept on the
// socket fail before it takes a connection.
//
// A wrapped listener whose SetDeadline does not wake its Accept would hold
// the transition, and with it every later one, for good: past wakeWait
// the transition goes on, and a goroutine still inside may take one more
// connection, which Accept delivers, as for a listener without SetDeadline.
func (l *Listener) stopAcceptsOpLocked(s *socket) {
	l.stopRetireesAcceptOpLocked()
	if s.wake == nil {
		return
	}
	_ = s.wake(time.Unix(1, 0))
	if l.counters.inflight() == 0 {
		return
	}
	timeout := time.NewTimer(wakeWait)
	defer timeout.Stop()
	for l.counters.inflight() > 0 {
		select {
		case <-l.idle:
		case <-timeout.C:
			l.logger.Warn("acceptgate: SetDeadline did not wake Accept; it may still take one connection",
				"addr", s.ln.Addr().String(), "listener", fmt.Sprintf("%T", s.ln))
			return
		}
	}
}

// broadcastLocked wakes every goroutine waiting for a change.
func (l *Listener) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}
