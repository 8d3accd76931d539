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
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// Takeover is the taking side of an exchange: the gates it received, held
// as they came until Commit.
type Takeover struct {
	w       *conn
	names   []string
	gates   map[string]*acceptgate.Listener
	sides   map[string]handover.Gate // the gates' sides of the handoff, by name
	pid     int
	started time.Time
	ended   bool
	// saysRollback: the offer promised to say so when it rolls back, so
	// that a connection ending without a word means it died.
	saysRollback bool
}

// Take connects to the offer at path and receives its gates. Each gate
// holds its socket as the old process left it (paused, or rejecting
// without delivering) until Commit; start serving them, then call Commit
// within the timeout, or Abort.
//
// On error nothing changes on either side: the old process serves on.
func Take(ctx context.Context, path string, opts ...Option) (*Takeover, error) {
	o := newOptions(opts)
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, o.timeout)
	c, err := d.DialContext(dctx, "unixpacket", path)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("handoff: take: %w", err)
	}
	t, err := take(ctx, c.(*net.UnixConn), o)
	if err != nil {
		return nil, fmt.Errorf("handoff: take from %s: %w", path, err)
	}
	return t, nil
}

// take receives the gates offered at the other end of uc, which it owns.
func take(ctx context.Context, uc *net.UnixConn, o options) (*Takeover, error) {
	t := &Takeover{w: &conn{c: uc, timeout: o.timeout}, gates: make(map[string]*acceptgate.Listener), sides: make(map[string]handover.Gate)}
	if err := t.receive(ctx, o); err != nil {
		t.w.refuse(err)
		t.letGo()
		uc.Close()
		return nil, err
	}
	return t, nil
}

func (t *Takeover) receive(ctx context.Context, o options) error {
	defer t.w.watch(ctx)()
	if err := checkPeer(t.w.c); err != nil {
		return err
	}
	if err := t.w.send(message{Op: opHello, Version: Version}, nil); err != nil {
		return err
	}
	m, files, err := t.w.recv(opSockets)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	if m.Version != Version {
		return fmt.Errorf("offer speaks version %d, this side %d", m.Version, Version)
	}
	if len(m.Sockets) == 0 || len(m.Sockets) > maxSockets {
		return fmt.Errorf("%d sockets offered", len(m.Sockets))
	}
	want := 0
	for _, s := range m.Sockets {
		if s.Files < 1 || s.Files > 2 {
			return fmt.Errorf("socket %q described with %d descriptors", clip(s.Name), s.Files)
		}
		want += s.Files
	}
	if want != len(files) {
		return fmt.Errorf("%d descriptors for sockets that have %d", len(files), want)
	}
	t.pid = m.PID
	t.saysRollback = m.SaysRollback
	t.started, _ = time.Parse(time.RFC3339, m.Started)
	names := make(map[string]bool, len(m.Sockets))
	for _, s := range m.Sockets {
		if names[s.Name] || s.Name == "" {
			return fmt.Errorf("socket name %q empty or repeated", clip(s.Name))
		}
		names[s.Name] = true
	}
	// Every socket is adopted side by side, each with its own descriptors;
	// the options are asked for first, one name at a time, as the caller
	// may expect. If any socket cannot be adopted, the gates made for the
	// others are let go of with them (take's letGo).
	type adoption struct {
		fs    []*os.File
		gopts []acceptgate.Option
		g     *acceptgate.Listener
		side  handover.Gate
		err   error
	}
	as := make([]adoption, len(m.Sockets))
	for i, s := range m.Sockets {
		as[i].fs = files[:s.Files:s.Files]
		files = files[s.Files:]
		if o.gateOpts != nil {
			as[i].gopts = o.gateOpts(s.Name)
		}
	}
	// Adopt owns the descriptors from here on, whether it succeeds or not.
	eachGate(len(as), func(i int) {
		a := &as[i]
		a.side, a.err = handover.Adopt(m.Sockets[i].Socket, a.fs, func(ln net.Listener) net.Listener {
			a.g = acceptgate.Wrap(ln, a.gopts...)
			return a.g
		})
	})
	var adoptErr error
	for i, a := range as {
		name := m.Sockets[i].Name
		if a.err != nil {
			adoptErr = cmp.Or(adoptErr, fmt.Errorf("socket %q: %w", clip(name), a.err))
			continue
		}
		t.names = append(t.names, name)
		t.gates[name] = a.g
		t.sides[name] = a.side
	}
	return adoptErr
}

// Listeners returns the gates taken over, by the names the old process gave
// them.
func (t *Takeover) Listeners() map[string]*acceptgate.Listener { return maps.Clone(t.gates) }

// PID returns the old process's id.
func (t *Takeover) PID() int { return t.pid }

// Started returns when the old process started.
func (t *Takeover) Started() time.Time { return t.started }

// Commit tells the old process that this one serves the gates, waits for
// its go, puts every gate in the state it had there, says so, and waits for
// the old process to confirm it lets go of the sockets. With an old process
// of this build or the one before, exactly one of the two serves them when
// Commit returns, and after an error a gate's State tells which: Closed
// means the old process has the sockets and serves on (the gates here were
// closed without touching the sockets); any other state means they serve
// here.
//
// Before the go: if the old process refuses or rolls back (it says so),
// Commit's context ends, or the old process is silent past the timeout,
// the gates are closed here. If instead the old process ends without a word
// after it sent the sockets (killed, crashed), its copies are gone and
// these are the only ones: the gates serve here.
//
// After the go, only the old process's word or its end decides, and Commit
// waits through its silence for up to three timeouts. If it says it rolls
// back (an older build does when this process is slower than its timeout;
// this one when it heard nothing within three), or a gate cannot be put in
// its state (then the old process is told), the gates are closed here. If
// it ends without a word, or its confirmation does not come in time or
// before Commit's context ends, the gates serve here: an old process of
// this build that read the accepting this one sent lets go.
func (t *Takeover) Commit(ctx context.Context) error {
	if t.ended {
		return errors.New("handoff: commit: the exchange has ended")
	}
	t.ended = true
	defer t.w.c.Close()
	defer t.w.watch(ctx)()
	// A failed send says nothing yet: a peer that already left has its
	// last word queued here, or none.
	t.w.send(message{Op: opReady}, nil)
	_, _, err := t.w.recv(opGo)
	orphaned := errors.Is(err, io.EOF) && t.saysRollback
	if err != nil && !orphaned {
		t.letGo()
		return fmt.Errorf("handoff: commit: %w", err)
	}
	// Every gate is put in its state side by side.
	errs := make([]error, len(t.names))
	eachGate(len(t.names), func(i int) {
		if err := t.sides[t.names[i]].Activate(); err != nil {
			errs[i] = fmt.Errorf("gate %s: %w", t.names[i], err)
		}
	})
	if orphaned {
		t.keep()
		errs = append(errs, fmt.Errorf("the old process ended before its go; the gates serve here: %w", err))
		return fmt.Errorf("handoff: commit: %w", errors.Join(errs...))
	}
	if err := errors.Join(errs...); err != nil {
		// Step back whole, the gates already in their state with the
		// others, before the old process hears it and serves again.
		t.letGo()
		t.w.refuse(err)
		return fmt.Errorf("handoff: commit: stepped back after the go: %w", err)
	}
	// The accepting goes even if ctx has ended: the old process waits for
	// it. A failed send says nothing yet either: what the old process said
	// before its connection ended is queued here.
	t.w.unwatchIfSet()
	sendErr := t.w.send(message{Op: opAccepting}, nil)
	defer t.w.watch(ctx)()
	err = t.w.awaitAfterGo(opDone, time.Now().Add(afterGo*t.w.timeout))
	switch {
	case err == nil:
		t.keep()
		return nil
	case errors.Is(err, ErrRefused):
		// It serves again: this process must not serve beside it.
		t.letGo()
		return fmt.Errorf("handoff: commit: the old process rolled back after its go; the gates are closed here: %w", err)
	case errors.Is(err, io.EOF):
		t.keep()
		return fmt.Errorf("handoff: commit: the old process ended after its go without confirming; the gates serve here: %w", err)
	case sendErr != nil:
		// The old process, alive, never heard this one serves: it rolls
		// back once it has waited long enough.
		t.letGo()
		return fmt.Errorf("handoff: commit: could not say accepting; the gates are closed here: %w", errors.Join(sendErr, err))
	default:
		t.keep()
		return fmt.Errorf("handoff: commit: the old process did not confirm after its go; the gates serve here: %w", err)
	}
}

// Abort ends the exchange: the gates are closed without touching their
// sockets, and the old process serves on. If the old process has died
// meanwhile, they were the last copies of its sockets; Commit would have
// kept them.
func (t *Takeover) Abort() error {
	if t.ended {
		return nil
	}
	t.ended = true
	t.w.refuse(errors.New("the taker aborted"))
	t.letGo()
	return t.w.c.Close()
}

// keep ends the handoff here: the gates are this process's alone.
func (t *Takeover) keep() {
	for _, side := range t.sides {
		side.Settle()
	}
}

// letGo closes the gates without touching their sockets, whatever state
// Commit put them in: the old process serves them.
func (t *Takeover) letGo() {
	eachGate(len(t.names), func(i int) { t.sides[t.names[i]].Release() })
}
