package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/listener"
)

// Listen returns a gate for network and address, as acceptgate.Listen
// does: the one taken over from the previous generation for the same
// network and address if there is one, else, if systemd passed a single
// socket without a name, that one (the unit decides its address), else a
// new socket. Serve the gate before Ready: a gate taken over takes
// clients from the queue the moment Ready commits the takeover.
func (u *Upgrader) Listen(ctx context.Context, network, address string) (*acceptgate.Listener, error) {
	return u.listen(ctx, "addr "+network+" "+address, "", network, address)
}

// ListenNamed is Listen for a socket systemd may pass by name
// (FileDescriptorName=name in the unit): the one taken over by that name,
// else systemd's socket of that name (or a single one without a name),
// else a new socket for network and address. Its gate is made with
// Options.NamedGateOptions[name] if there are some.
//
// With network and address both empty, ListenNamed makes no socket: it
// returns the one taken over or passed by systemd, or an error wrapping
// listener.ErrNoSocket, and nothing changes. A socket taken over is named
// on the wire by name alone, as handoff.Listen names its gates, so a
// generation can take over from any offer of gates by name.
func (u *Upgrader) ListenNamed(ctx context.Context, name, network, address string) (*acceptgate.Listener, error) {
	if name == "" {
		return nil, errors.New("upgrade: listen: empty name")
	}
	return u.listen(ctx, name, name, network, address)
}

// Adopt hands over, as Listen's gates are, a listener the caller made
// itself (one with checks of its own, such as control.ListenAdmin's), by
// name: the next generation finds its socket with ListenNamed(name, ...).
// A *acceptgate.Listener is adopted as it is; any other listener is made
// a gate with the options ListenNamed would use. Call it before Ready, for
// a name that nothing was taken over or passed by (ask ListenNamed first);
// the gate it returns must be served in place of ln. On error ln is left
// as it was.
func (u *Upgrader) Adopt(name string, ln net.Listener) (*acceptgate.Listener, error) {
	if name == "" {
		return nil, errors.New("upgrade: adopt: empty name")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.phase != listening:
		return nil, fmt.Errorf("upgrade: adopt %q: after Ready: %w", name, ErrStopped)
	case u.gates[name] != nil:
		return nil, fmt.Errorf("upgrade: adopt %q: asked for twice", name)
	case u.taken[name] != nil || hasName(u.systemd, name):
		return nil, fmt.Errorf("upgrade: adopt %q: a socket of that name was inherited; ListenNamed returns it", name)
	}
	g, ok := ln.(*acceptgate.Listener)
	if !ok {
		g = acceptgate.Wrap(ln, u.opts.gateOptions(name)...)
	}
	u.gates[name] = g
	return g, nil
}

func (u *Upgrader) listen(ctx context.Context, key, name, network, address string) (*acceptgate.Listener, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.phase >= handedOver:
		return nil, fmt.Errorf("upgrade: listen on %s %s: %w", network, address, ErrStopped)
	case u.phase == upgrading:
		return nil, fmt.Errorf("upgrade: listen on %s %s: %w", network, address, ErrInProgress)
	case u.gates[key] != nil:
		return nil, fmt.Errorf("upgrade: listen on %s %s: asked for twice", network, address)
	}
	g, err := u.gateLocked(ctx, key, name, network, address)
	if err != nil {
		return nil, err
	}
	u.gates[key] = g
	return g, nil
}

// gateLocked finds or makes the gate Listen returns.
func (u *Upgrader) gateLocked(ctx context.Context, key, name, network, address string) (*acceptgate.Listener, error) {
	if g := u.taken[key]; g != nil {
		delete(u.taken, key)
		return g, nil
	}
	if u.takeover == nil && len(u.systemd) > 0 {
		ln, err := u.systemd.Listener(name)
		switch {
		case err == nil:
			u.claimSystemdLocked(ln)
			return acceptgate.Wrap(ln, u.opts.gateOptions(name)...), nil
		case !errors.Is(err, listener.ErrNoSocket) || name != "" && hasName(u.systemd, name):
			return nil, fmt.Errorf("upgrade: listen on systemd's socket %q: %w", name, err)
		}
	}
	if network == "" && address == "" {
		return nil, fmt.Errorf("upgrade: listen: no socket %q taken over or passed by systemd: %w", name, listener.ErrNoSocket)
	}
	g, err := acceptgate.Listen(ctx, network, address, u.opts.gateOptions(name)...)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return g, nil
}

func (u *Upgrader) claimSystemdLocked(ln any) {
	for i, sk := range u.systemd {
		if sk.Listener == ln {
			u.systemd = append(u.systemd[:i:i], u.systemd[i+1:]...)
			return
		}
	}
}

func hasName(socks listener.Sockets, name string) bool {
	for _, sk := range socks {
		if sk.Name == name {
			return true
		}
	}
	return false
}
