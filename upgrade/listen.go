package upgrade

import (
	"context"
	"errors"
	"fmt"

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
// else a new socket for network and address.
func (u *Upgrader) ListenNamed(ctx context.Context, name, network, address string) (*acceptgate.Listener, error) {
	if name == "" {
		return nil, errors.New("upgrade: listen: empty name")
	}
	return u.listen(ctx, "name "+name, name, network, address)
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
			return acceptgate.Wrap(ln, u.opts.GateOptions...), nil
		case !errors.Is(err, listener.ErrNoSocket) || name != "" && hasName(u.systemd, name):
			return nil, fmt.Errorf("upgrade: listen on systemd's socket %q: %w", name, err)
		}
	}
	g, err := acceptgate.Listen(ctx, network, address, u.opts.GateOptions...)
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
