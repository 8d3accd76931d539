//go:build unix

package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
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
	t := &Takeover{w: &conn{c: uc, timeout: o.timeout}, gates: make(map[string]*acceptgate.Listener)}
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
	for _, s := range m.Sockets {
		if _, dup := t.gates[s.Name]; dup || s.Name == "" {
			return fmt.Errorf("socket name %q empty or repeated", clip(s.Name))
		}
		fs := files[:s.Files]
		files = files[s.Files:]
		var gopts []acceptgate.Option
		if o.gateOpts != nil {
			gopts = o.gateOpts(s.Name)
		}
		g, err := handover.Adopt(s.Socket, fs, gopts)
		if err != nil {
			return fmt.Errorf("socket %q: %w", clip(s.Name), err)
		}
		t.names = append(t.names, s.Name)
		t.gates[s.Name] = g.(*acceptgate.Listener)
	}
	return nil
}

// Listeners returns the gates taken over, by the names the old process gave
// them.
func (t *Takeover) Listeners() map[string]*acceptgate.Listener { return maps.Clone(t.gates) }

// PID returns the old process's id.
func (t *Takeover) PID() int { return t.pid }

// Started returns when the old process started.
func (t *Takeover) Started() time.Time { return t.started }

// Commit tells the old process that this one serves the gates, waits for
// its go, and puts every gate in the state it had there. The old process
// then lets go of the sockets.
//
// If the old process refuses or rolls back before its go (it says so), or
// Commit's context ends, or the old process is silent past the timeout,
// Commit returns an error and the gates are closed without touching their
// sockets: the old process serves on. If instead the old process ends
// without a word after it sent the sockets (killed, crashed), its copies
// are gone and these are the only ones: Commit puts every gate in its state
// and returns an error saying so, and the gates serve here. An error after
// the go (the old process did not confirm it let go) leaves the gates
// serving here too: both processes may serve the sockets for a while, and
// no client is refused or lost. After an error, a gate's State tells which
// it was: Closed means the old process has the sockets.
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
	var errs []error
	for _, name := range t.names {
		if err := handover.Activate(t.gates[name]); err != nil {
			errs = append(errs, fmt.Errorf("gate %s: %w", name, err))
		}
	}
	if orphaned {
		errs = append(errs, fmt.Errorf("the old process ended before its go; the gates serve here: %w", err))
		return fmt.Errorf("handoff: commit: %w", errors.Join(errs...))
	}
	if err := errors.Join(errs...); err != nil {
		// Gates that could not be put back in their state stay as they
		// came; the old process is told and rolls back.
		t.w.refuse(err)
		return fmt.Errorf("handoff: commit: %w", err)
	}
	if err := t.w.send(message{Op: opAccepting}, nil); err != nil {
		return fmt.Errorf("handoff: commit: the old process may serve on too: %w", err)
	}
	if _, _, err := t.w.recv(opDone); err != nil {
		return fmt.Errorf("handoff: commit: the old process may serve on too: %w", err)
	}
	return nil
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

func (t *Takeover) letGo() {
	for _, g := range t.gates {
		handover.Release(g)
	}
}
