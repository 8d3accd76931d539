package acceptgate

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

// A retiree is a fenced socket that a Resume without CAP_NET_RAW replaced
// by a new socket bound beside it (replaceBesideOpLocked). The new socket
// is the gate's from that Resume on, and new clients reach only it; the
// retiree still delivers the clients whose handshakes were under way when
// it was fenced, as they complete, until a count finds none under way (or
// the count's bound since the Reject has passed), and then stops and
// closes as a replaced socket does. So that neither Resume nor the next
// Reject waits for a count, and no client is refused or reset on its way.
//
// Its goroutine (retire) takes the clients out of its queue while the gate
// accepts or rejects and delivers, and into pending, from which Accept
// delivers them (addPending wakes Accept for them). It takes none while a
// transition runs or the gate is paused: stopAcceptsOpLocked waits for it
// to leave its accept, as for the gate's own.
type retiree struct {
	s     *socket
	watch *settleWatch // of s; nil: the stop counts

	// acceptMu is held while the goroutine is in s's Accept, and by
	// whoever stops it doing so (claim); then stopping is set.
	acceptMu sync.Mutex
	stopping atomic.Bool
	finished atomic.Bool   // s is closed; set with opMu held
	gone     chan struct{} // closed when finished is set
}

// retirePoll bounds each Accept of a retiree, so that it looks at whether
// its watch has ended.
const retirePoll = 10 * time.Millisecond

// replaceBesideOpLocked binds, in place of the fenced socket s, a new one
// beside it (bindBeside), returns it, and retires s. It returns nil,
// having changed nothing, where the new socket cannot bind.
func (l *Listener) replaceBesideOpLocked(s *socket, watch *settleWatch) *socket {
	cfg := liveConfig(s)
	ln, err := bindBeside(s, cfg)
	if err != nil {
		l.logger.Debug("acceptgate: no socket beside the fenced one; Resume replaces it in turn", "addr", s.ln.Addr().String(), "reason", err.Error())
		return nil
	}
	r := &retiree{s: s, watch: watch, gone: make(chan struct{})}
	l.pruneRetireesOpLocked()
	l.mu.Lock()
	l.retirees = append(l.retirees, r)
	l.mu.Unlock()
	l.retiring.Add(1)
	go l.retire(r, settleTime)
	return newSocket(ln, cfg, true, s.faults)
}

// bindBeside binds and listens, with cfg, a new socket on the address of
// s, which goes on listening behind its fence. Linux lets two TCP sockets
// of one user share an address where both have SO_REUSEPORT; bound to
// different interfaces (the fence's, none), they are not one group, and
// clients arrive only at the new one. The flag is set for the new socket
// to bind and listen, and cleared on both once it does: the new one is no
// group member (Reject fences it in turn). One thing stays of it: the
// kernel remembers that the address was shared by this user, so another
// socket of the same user with SO_REUSEPORT may bind it now
// (docs/reject.md).
func bindBeside(s *socket, cfg listener.Config) (net.Listener, error) {
	for _, step := range []string{faults.Bind, faults.Beside} {
		if err := s.faults.Check(step); err != nil {
			return nil, err
		}
	}
	network, err := tcpNetwork(s.ln)
	if err != nil {
		return nil, err
	}
	if err := sockets.SetReusePort(s.ln, true); err != nil {
		return nil, err
	}
	defer sockets.SetReusePort(s.ln, false)
	cfg.ReusePort = true
	ln, err := cfg.Listen(context.Background(), network, s.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	if err := sockets.SetReusePort(ln, false); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// retire delivers r's clients as they complete while the gate takes
// clients, until r's watch has ended, and then stops and closes r (under
// opMu, as a transition would). A stop that fails (an accept out of
// descriptors, say) is tried again, a little later each time, for up to
// settleTime; then r is closed all the same, resetting the clients its
// queue still holds, and a warning says so.
func (l *Listener) retire(r *retiree, settleTime time.Duration) {
	defer l.retiring.Done()
	var giveUp time.Time
	backoff := time.Millisecond
	for !r.finished.Load() {
		l.mu.Lock()
		mode, changed := l.mode.Load(), l.changed
		l.mu.Unlock()
		if State(mode&stateMask) == Closed {
			return // Close finished r
		}
		if !socketOpen(mode &^ pendingFlag) {
			select {
			case <-changed:
			case <-r.gone:
			}
			continue
		}
		select {
		case <-r.watch.ended():
		default:
			l.takeStraggler(r)
			continue
		}
		if giveUp.IsZero() {
			giveUp = time.Now().Add(settleTime)
		}
		l.opMu.Lock()
		done := l.finishByItselfOpLocked(r, time.Now().After(giveUp))
		l.opMu.Unlock()
		if done {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.gone:
			t.Stop()
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// takeStraggler takes one client out of r's queue, if one comes within
// retirePoll, and hands it to Accept.
func (l *Listener) takeStraggler(r *retiree) {
	r.acceptMu.Lock()
	defer r.acceptMu.Unlock()
	if r.stopping.Load() || r.finished.Load() || !socketOpen(l.mode.Load()&^pendingFlag) {
		return
	}
	var c net.Conn
	err := r.s.wake(time.Now().Add(retirePoll))
	if err == nil {
		c, err = l.takeOpLocked(r.s) // opMu is not held: r is this goroutine's
	}
	if c != nil {
		l.addPending(c) // under acceptMu: a Close that claims r finds it pending
		return
	}
	if err != nil {
		// Out of descriptors, say: the same again shortly, not at once.
		t := time.NewTimer(retirePoll)
		select {
		case <-t.C:
		case <-r.gone:
			t.Stop()
		}
	}
}

// finishByItselfOpLocked finishes r for its goroutine, unless someone else
// did or the gate takes no clients now (a transition ran; then the
// goroutine waits for it and tries again). It reports whether r is done.
func (l *Listener) finishByItselfOpLocked(r *retiree, force bool) bool {
	if r.finished.Load() {
		return true
	}
	if !socketOpen(l.mode.Load() &^ pendingFlag) {
		return false
	}
	r.stopping.Store(true) // this goroutine is not in r's Accept
	err := l.finishOpLocked(r)
	if err != nil && !force {
		r.stopping.Store(false)
		return false
	}
	if err != nil {
		l.logger.Warn("acceptgate: the fenced socket Resume replaced could not stop in order; closing it resets the clients left in its queue",
			"addr", r.s.ln.Addr().String(), "error", err.Error())
	}
	l.closeRetireeOpLocked(r)
	l.pruneRetireesOpLocked()
	return true
}

// finishOpLocked stops r once its queue is taken out and no handshake is
// under way on it, without a count where its watch found none or has
// outlived its bound (a handshake still under way then has lost a packet
// or waits for a TCP_DEFER_ACCEPT client, and any stop resets it). No one
// may be in r's Accept. On error r still listens behind its fence, and
// what was taken out is pending.
func (l *Listener) finishOpLocked(r *retiree) error {
	settled := r.watch.stop()
	return l.stopWhenSettledOpLocked(r.s, !settled && !r.watch.outlived())
}

// claim stops r's goroutine taking from it and waits until it is out of
// r's Accept; release lets it take again (or, once r is finished, end).
// Both with opMu held.
func (r *retiree) claim() {
	r.stopping.Store(true)
	_ = r.s.wake(time.Unix(1, 0))
	r.acceptMu.Lock()
}

func (r *retiree) release() {
	r.stopping.Store(false)
	r.acceptMu.Unlock()
}

// closeRetireeOpLocked closes r for good.
func (l *Listener) closeRetireeOpLocked(r *retiree) error {
	r.watch.stop()
	err := r.s.ln.Close()
	r.finished.Store(true)
	close(r.gone)
	return err
}

// finishRetireesOpLocked finishes every retiree now, for a handoff: what
// is handed over is the gate's own socket. On error the retiree left goes
// on as before.
func (l *Listener) finishRetireesOpLocked() error {
	defer l.pruneRetireesOpLocked()
	for _, r := range l.retirees {
		if r.finished.Load() {
			continue
		}
		r.claim()
		err := l.finishOpLocked(r)
		if err == nil {
			l.closeRetireeOpLocked(r)
		}
		r.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// closeRetireesOpLocked closes every retiree, for Close: the clients in
// their queues are reset, as the gate's own are. What a retiree's goroutine
// had taken out is pending by then, for Close to close.
func (l *Listener) closeRetireesOpLocked() error {
	defer l.pruneRetireesOpLocked()
	var errs []error
	for _, r := range l.retirees {
		if r.finished.Load() {
			continue
		}
		r.claim()
		errs = append(errs, l.closeRetireeOpLocked(r))
		r.release()
	}
	return errors.Join(errs...)
}

// stopRetireesAcceptOpLocked waits until no retiree's goroutine is in its
// Accept; the mode, held, keeps them out after.
func (l *Listener) stopRetireesAcceptOpLocked() {
	for _, r := range l.retirees {
		if !r.finished.Load() {
			r.claim()
			r.release()
		}
	}
}

// pruneRetireesOpLocked drops the finished retirees. retirees is written
// with opMu and mu held, so that Stats may read it under mu alone.
func (l *Listener) pruneRetireesOpLocked() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retirees = slices.DeleteFunc(l.retirees, func(r *retiree) bool { return r.finished.Load() })
}

// queued counts the clients waiting in r's queue, for Stats:
// clients that completed their handshake there and that its goroutine has
// not taken out yet (all of them while the gate is paused).
func (r *retiree) queued() int {
	if r.finished.Load() {
		return 0
	}
	if sc, ok := r.s.ln.(syscall.Conn); ok {
		if q, err := backlog.Of(sc); err == nil {
			return q.Len
		}
	}
	return 0
}
