package acceptgate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Close closes the wrapped listener. Goroutines blocked in Accept return an
// error wrapping net.ErrClosed, as does any later call of Accept, Pause,
// Reject, Resume or Close. Connections taken out of the kernel by Reject and
// not yet delivered are closed; connections already returned by Accept are
// not (see Shutdown).
//
// Closing a rejecting Listener leaves a socket the gate did not create (one
// given to Wrap) listening, for the other processes that may hold it, and a
// unix socket's path as the wrapped listener would leave it. A path that
// leads to another socket now (a new instance removed the Listener's file,
// one that looked stale while the Listener rejected or any, and bound
// there) is left to that socket, and Close returns an error wrapping
// syscall.EADDRINUSE; only Linux can tell while the Listener accepts or is
// paused. If a step of that fails, Close still closes and returns the
// error.
//
// Closing a Listener while its socket is being handed to or from another
// process (package handoff) closes its descriptors without touching the
// socket (no shutdown, no unlink, no fence lifted): the other process may
// serve it on.
func (l *Listener) Close() error {
	l.opMu.Lock()
	from := l.State()
	if from == Closed {
		l.opMu.Unlock()
		l.closePending() // left by a release to another process
		return l.closedError("close")
	}
	err := l.closeOpLocked(from, false)
	l.opMu.Unlock()
	l.retiring.Wait()
	l.reportChanges()
	if err != nil {
		return l.opError("close", err)
	}
	return nil
}

// Shutdown closes the Listener, then waits until every tracked connection it
// handed out is closed. If ctx is done first, Shutdown closes the connections
// left and returns a *ForcedCloseError wrapping ctx.Err(): the Listener and
// all its connections are closed then too, and Shutdown did its job. Without
// tracking (see WithTracking) there is nothing to wait for and Shutdown only
// closes the Listener.
//
// It does all of that also when a step of Close fails (the Listener is
// closed all the same): it then returns Close's error, joined with
// ctx.Err() if ctx was done first, so that errors.Is finds either, and
// errors.As finds no *ForcedCloseError: a caller can tell a step that failed
// from a deadline that cut the wait short.
//
// Shutdown knows nothing of the protocol spoken on the connections. For an
// http.Server, package httpgate's Shutdown calls it in the sequence that
// answers every client the server accepted; calling the server's Shutdown
// first does not (see there).
func (l *Listener) Shutdown(ctx context.Context) error {
	closeErr := l.Close()
	if errors.Is(closeErr, net.ErrClosed) {
		closeErr = nil // closed before: Shutdown goes on waiting all the same
	}
	err := l.awaitTracked(ctx)
	if closeErr == nil {
		return err
	}
	if err != nil {
		return errors.Join(closeErr, ctx.Err())
	}
	return closeErr
}

// ForcedCloseError is the error of a Shutdown whose context ended before
// the connections it waited for were closed by their owners: it closed them
// itself, so that nothing the Listener handed out is left open. It unwraps
// to the context's error, so that errors.Is(err, context.DeadlineExceeded)
// holds; errors.As(err, new(*ForcedCloseError)) tells this outcome, where
// the shutdown is complete, from a step that failed.
type ForcedCloseError struct {
	Conns int   // connections closed at the end of the context
	Err   error // the context's error
}

func (e *ForcedCloseError) Error() string {
	return fmt.Sprintf("acceptgate: shutdown closed %d connections when its context ended: %v", e.Conns, e.Err)
}

func (e *ForcedCloseError) Unwrap() error { return e.Err }

// awaitTracked waits until no tracked connection is open and no accept
// under way can still hand one out: it waits for the slots, which an
// accept takes before it looks at the state (tracker.held). If ctx is done
// first, it closes the ones left and returns a *ForcedCloseError.
func (l *Listener) awaitTracked(ctx context.Context) error {
	t := l.tracker
	if t == nil {
		return nil
	}
	for {
		freed := t.watch()
		if t.held() == 0 {
			t.unwatch()
			return nil
		}
		select {
		case <-freed:
			t.unwatch()
		case <-ctx.Done():
			t.unwatch()
			return &ForcedCloseError{Conns: t.closeAll(), Err: ctx.Err()}
		}
	}
}

// closeOpLocked closes the Listener, in state from, and its socket. A socket
// being handed to or from another process is let go without being touched:
// the other process holds it too and may serve it on, whichever way the
// handoff ends. The pending connections are closed, unless keepPending:
// then Accept still delivers them, and drained is closed after the last.
func (l *Listener) closeOpLocked(from State, keepPending bool) error {
	// First, so that what their goroutines took out is pending, to close.
	retErr := l.closeRetireesOpLocked()
	m := int32(Closed)
	var drop []net.Conn
	l.mu.Lock()
	keepPending = keepPending && len(l.pending) > 0
	if keepPending {
		m |= pendingFlag
		l.drained = make(chan struct{})
	}
	l.storeModeLocked(m)
	l.enterLocked(from, Closed)
	if !keepPending {
		// Taken in the step that stores the mode, so that no Accept
		// delivers one of them from a closed Listener.
		drop = l.takePendingLocked()
	}
	l.mu.Unlock()
	closeConns(drop)
	var err error
	if l.handing != nil {
		l.handing = nil
		err = l.sock.Load().letGo()
	} else {
		err = l.sock.Load().close()
	}
	return errors.Join(retErr, err)
}

// addPending queues connections a transition or a retiree took out of the
// kernel for delivery. Accept delivers them at once, while the transition
// goes on. Where Accept takes from the socket (a retiree's clients), the
// goroutines inside its Accept are woken for them by a deadline in the
// past, set before the mode says pending so that none goes back in and
// sleeps; the Accept that delivers the last clears it (acceptSlow).
func (l *Listener) addPending(cs ...net.Conn) {
	if len(cs) == 0 {
		return
	}
	l.mu.Lock()
	l.pending = append(l.pending, cs...)
	m := l.mode.Load()
	if s := l.sock.Load(); socketOpen(m&^pendingFlag) && s.wake != nil {
		_ = s.wake(time.Unix(1, 0))
		l.kicked = true
	}
	l.storeModeLocked(m | pendingFlag)
	l.mu.Unlock()
}

// closePending closes the connections waiting for delivery.
func (l *Listener) closePending() {
	l.mu.Lock()
	drop := l.takePendingLocked()
	l.mu.Unlock()
	closeConns(drop)
}

// takePendingLocked empties pending and returns what it held, for the
// caller to close once mu is unlocked.
func (l *Listener) takePendingLocked() []net.Conn {
	drop := l.pending
	l.pending = nil
	l.storeModeLocked(l.mode.Load() &^ pendingFlag)
	l.closeDrainedLocked()
	return drop
}

func closeConns(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

// opError wraps err as net's listener methods do, naming the call.
func (l *Listener) opError(op string, err error) error {
	a := l.Addr()
	return &net.OpError{Op: op, Net: a.Network(), Addr: a, Err: err}
}

func (l *Listener) closedError(op string) error { return l.opError(op, net.ErrClosed) }
