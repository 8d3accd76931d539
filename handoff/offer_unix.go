//go:build unix

package handoff

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/process"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// Offer offers a process's gates to the next process that takes them over.
type Offer struct {
	ln    unixListener
	path  string
	names []string
	gates map[string]*acceptgate.Listener
	opts  options

	// closed is cancelled by Close, to roll back an exchange under way.
	closed      context.Context
	cancelClose context.CancelCauseFunc
	// goMu orders Close and an exchange's go: a go sent before Close took
	// it hands the gates over; after, the exchange sees the offer closed
	// and rolls back. Close's return thus tells which.
	goMu      sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// unixListener is a *net.UnixListener, or one bound elsewhere and linked
// at the offer's path (systems other than Linux).
type unixListener interface {
	net.Listener
	AcceptUnix() (*net.UnixConn, error)
	SetDeadline(time.Time) error
}

// Listen makes the offer socket at path, private to this user (mode 0600)
// from the instant it exists, offering gates by name. A stale socket file
// nobody listens on is replaced; a path someone listens on is an error
// wrapping syscall.EADDRINUSE, and nothing changes.
func Listen(ctx context.Context, path string, gates map[string]*acceptgate.Listener, opts ...Option) (*Offer, error) {
	names, err := gateNames(gates)
	if err != nil {
		return nil, err
	}
	if err := sockets.RemoveStale(path); err != nil {
		return nil, fmt.Errorf("handoff: offer: %w", err)
	}
	ln, err := sockets.ListenPrivate(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("handoff: offer: %w", err)
	}
	if err := sockets.CheckPrivate(path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("handoff: offer: %w", err)
	}
	ul, ok := ln.(unixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("handoff: offer on %s: %T: %w", path, ln, errors.ErrUnsupported)
	}
	return newOffer(ul, path, names, gates, opts), nil
}

func newOffer(ln unixListener, path string, names []string, gates map[string]*acceptgate.Listener, opts []Option) *Offer {
	closed, cancelClose := context.WithCancelCause(context.Background())
	return &Offer{ln: ln, path: path, names: names, gates: maps.Clone(gates), opts: newOptions(opts),
		closed: closed, cancelClose: cancelClose}
}

// gateNames checks the gates to offer and returns their names, sorted.
func gateNames(gates map[string]*acceptgate.Listener) ([]string, error) {
	if len(gates) == 0 || len(gates) > maxSockets {
		return nil, fmt.Errorf("handoff: offer %d gates: between 1 and %d", len(gates), maxSockets)
	}
	names := make([]string, 0, len(gates))
	seen := make(map[*acceptgate.Listener]bool, len(gates))
	for name, g := range gates {
		if name == "" || g == nil {
			return nil, fmt.Errorf("handoff: offer: a gate needs a name and a Listener")
		}
		if seen[g] {
			return nil, fmt.Errorf("handoff: offer: gate %s offered under two names", g.Addr())
		}
		seen[g] = true
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Addr returns the offer socket's address.
func (o *Offer) Addr() net.Addr { return o.ln.Addr() }

// Close stops offering and removes the offer socket. An exchange under way
// rolls back and says so, unless the taker's accepting came after the go:
// then the gates are handed over.
func (o *Offer) Close() error {
	o.closeOnce.Do(func() {
		o.goMu.Lock()
		o.cancelClose(fmt.Errorf("the offer was closed: %w", net.ErrClosed))
		o.goMu.Unlock()
		if o.ln != nil {
			o.closeErr = o.ln.Close()
		}
	})
	return o.closeErr
}

// Serve answers takers, one at a time, until one takes the gates over; then
// it returns nil: the gates are closed, their sockets belong to the new
// process, and the offer socket is removed. Before it returns, the gates
// deliver the connections a Reject had taken out of the kernel (within the
// timeout), so shut the servers down only after Serve returns.
//
// A failed exchange rolls back, is logged, and Serve waits for the next
// taker. Once the taker was told go, only its word or its end decides: its
// silence is waited through, the gates strictly paused, for up to three
// timeouts before the offer rolls back (see the package doc). An accept
// that fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) is logged and tried again after a pause, 5 ms doubling up to 1 s,
// as net/http's Serve does: a process short of descriptors for an instant
// can still be upgraded once it has them. Serve
// returns an error wrapping net.ErrClosed after Close, and ctx's error when
// ctx is done (also rolling back an exchange under way, as Close does, or
// returning nil if it handed the gates over); it may then be called again
// with another context.
func (o *Offer) Serve(ctx context.Context) error {
	// A Serve whose context ended woke its accept with a past deadline;
	// this one must not inherit it.
	o.ln.SetDeadline(time.Time{})
	stop := wakeOnDone(ctx, o.ln.SetDeadline)
	defer stop()
	var delay time.Duration
	for {
		c, err := o.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !temporary(err) {
				return fmt.Errorf("handoff: offer: %w", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			o.opts.logger.Warn("handoff: accept failed; retrying", "offer", o.path, "err", err, "in", delay)
			if err := o.pause(ctx, delay); err != nil {
				return err
			}
			continue
		}
		delay = 0
		done, err := o.exchange(ctx, c)
		c.Close()
		if done {
			o.waitDrained(ctx)
			return nil
		}
		o.opts.logger.Warn("handoff: exchange failed; the gates serve on here", "offer", o.path, "err", err)
	}
}

// temporary reports whether an accept failed for a reason that may pass:
// the process or the system out of descriptors or memory for a while, a
// client that gave up before it was accepted, or a timeout that was not
// Serve's own wake-up.
func temporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// pause waits for d, or until ctx is done or the offer closed.
func (o *Offer) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-o.closed.Done():
		return fmt.Errorf("handoff: offer: %w", context.Cause(o.closed))
	}
}

// exchange runs one exchange on c. It reports whether the gates were handed
// over; if not, they are as they were.
func (o *Offer) exchange(ctx context.Context, c *net.UnixConn) (bool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(o.closed, func() { cancel(context.Cause(o.closed)) })()
	w := &conn{c: c, timeout: o.opts.timeout}
	stop := w.watch(ctx)
	defer stop()
	if err := checkPeer(c); err != nil {
		w.refuse(err)
		return false, err
	}
	hello, _, err := w.recv(opHello)
	if err != nil {
		w.refuse(err)
		return false, err
	}
	if hello.Version != Version {
		err := fmt.Errorf("version %d asked; this side speaks %d", hello.Version, Version)
		w.refuse(err)
		return false, err
	}

	msg := message{Op: opSockets, Version: Version, PID: os.Getpid(), Started: process.Started.Format(time.RFC3339), SaysRollback: true}
	var fds []int
	var prepared []handover.Gate
	defer func() {
		for _, fd := range fds {
			unix.Close(fd) // in flight, the kernel holds its own references
		}
	}()
	// Once the sockets are sent, the taker holds the only other copies,
	// and it keeps them if this process dies: a rollback is said, always,
	// so that the taker can tell the two apart.
	rollback := func(err error) error {
		w.refuse(err)
		eachGate(len(prepared), func(i int) { prepared[i].Rollback() })
		return err
	}
	// Every gate is paused in one pass, side by side: a gate's accept
	// loops are woken and waited for while the others' are. If any gate
	// cannot be prepared, every one that was goes back as it was.
	type prep struct {
		hs  handover.Socket
		fds []int
		err error
	}
	preps := make([]prep, len(o.names))
	eachGate(len(o.names), func(i int) {
		p := &preps[i]
		p.hs, p.fds, p.err = sideOf(o.gates[o.names[i]]).Prepare()
	})
	var prepErr error
	for i, p := range preps {
		if p.err != nil {
			prepErr = cmp.Or(prepErr, fmt.Errorf("gate %s: %w", o.names[i], p.err))
			continue
		}
		prepared = append(prepared, sideOf(o.gates[o.names[i]]))
		fds = append(fds, p.fds...)
		msg.Sockets = append(msg.Sockets, socket{Name: o.names[i], Socket: p.hs})
	}
	if prepErr != nil {
		return false, rollback(prepErr)
	}
	o.opts.logger.Info("handoff: gates paused and sent", "offer", o.path, "gates", len(prepared))
	if err := w.send(msg, fds); err != nil {
		return false, rollback(fmt.Errorf("send sockets: %w", err))
	}
	if _, _, err := w.recv(opReady); err != nil {
		return false, rollback(fmt.Errorf("waiting for ready: %w", err))
	}
	if err := o.sendGo(ctx, w); err != nil {
		return false, rollback(err)
	}
	// From the go on the taker may serve, and only its word or its end
	// tells: a silence is waited through, strictly paused, within
	// afterGo timeouts.
	if err := w.awaitAfterGo(opAccepting, time.Now().Add(afterGo*o.opts.timeout)); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, ErrRefused) {
			// Alive, as far as anyone can tell, and maybe serving: the
			// rollback said now has it step back when it hears it.
			o.opts.logger.Warn("handoff: no word from the taker after its go; rolling back", "offer", o.path, "err", err)
		}
		return false, rollback(fmt.Errorf("waiting for accepting after the go: %w", err))
	}
	// The new process serves the gates: from here on the exchange ends
	// as a handoff, whatever is cancelled or closed.
	stop()
	errs := make([]error, len(prepared))
	eachGate(len(prepared), func(i int) {
		if err := prepared[i].Release(); err != nil {
			errs[i] = fmt.Errorf("gate %s: %w", o.names[i], err)
		}
	})
	// The new process offers at the same path once it hears done.
	o.Close()
	w.send(message{Op: opDone}, nil)
	if err := errors.Join(errs...); err != nil {
		o.opts.logger.Warn("handoff: letting go of a socket", "err", err)
	}
	o.opts.logger.Info("handoff: gates handed over", "offer", o.path)
	return true, nil
}

// sendGo tells the taker to take the gates, unless the offer was closed or
// ctx ended first: their cancellation reaches the exchange's connection
// through goroutines of their own, so a taker's ready may still be read
// after Close returned, and the go must not follow it.
func (o *Offer) sendGo(ctx context.Context, w *conn) error {
	o.goMu.Lock()
	defer o.goMu.Unlock()
	if err := context.Cause(o.closed); err != nil {
		return fmt.Errorf("before the go: %w", err)
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("before the go: %w", err)
	}
	if err := w.send(message{Op: opGo}, nil); err != nil {
		return fmt.Errorf("send go: %w", err)
	}
	return nil
}

// waitDrained waits, within the timeout, until the released gates have
// delivered every connection a Reject had taken out of the kernel.
func (o *Offer) waitDrained(ctx context.Context) {
	t := time.NewTimer(o.opts.timeout)
	defer t.Stop()
	for _, name := range o.names {
		select {
		case <-sideOf(o.gates[name]).Drained():
		case <-t.C:
			o.opts.logger.Warn("handoff: connections left undelivered", "gate", name)
			return
		case <-ctx.Done():
			return
		}
	}
}

// checkPeer refuses a peer running as another user than this one or root.
// Where the kernel cannot tell (systems other than Linux), the offer
// socket's mode keeps other users out.
func checkPeer(c *net.UnixConn) error {
	uid, err := sockets.PeerUID(c)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	if me := uint32(os.Geteuid()); uid != me && uid != 0 {
		return fmt.Errorf("peer runs as uid %d, not as this user (uid %d) or root: %w", uid, me, os.ErrPermission)
	}
	return nil
}

// sideOf is g's side of a handoff. Every gate an Offer holds is an
// *acceptgate.Listener, which always has one.
func sideOf(g *acceptgate.Listener) handover.Gate {
	side, _ := handover.Of(g)
	return side
}
