package upgrade

import (
	"context"
	"fmt"
	"maps"

	"github.com/acceptgate/acceptgate/handoff"
)

// handoffOptions are the options of both sides of an exchange.
func handoffOptions(opts Options) []handoff.Option {
	return []handoff.Option{handoff.WithTimeout(opts.UpgradeTimeout), handoff.WithLogger(opts.Logger),
		handoff.WithGateOptions(opts.gateOptions)}
}

func (u *Upgrader) handoffOptions() []handoff.Option { return handoffOptions(u.opts) }

// offerAtPathLocked offers the gates at Options.OfferPath, for a next
// generation started with TakeoverPath.
func (u *Upgrader) offerAtPathLocked() error {
	o, err := handoff.Listen(context.Background(), u.opts.OfferPath, maps.Clone(u.gates), u.handoffOptions()...)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	u.offer, u.offerDone = o, make(chan struct{})
	go u.serveOffer(o, u.offerDone)
	return nil
}

// serveOffer answers takers at the offer path until one takes the sockets
// over, or the offer is closed.
func (u *Upgrader) serveOffer(o *handoff.Offer, done chan<- struct{}) {
	defer close(done)
	if err := o.Serve(context.Background()); err != nil {
		return // closed: by Stop, or after an Upgrade handed the gates over
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.phase == ready || u.phase == upgrading {
		u.phase = handedOver
		u.closeExitLocked()
		u.opts.Logger.Info("upgrade: a generation took the sockets over at the offer path", "path", u.opts.OfferPath)
	}
}

// closeOffer stops offering at the path, and waits until the offer is
// over. It takes the lock: call it without.
func (u *Upgrader) closeOffer() {
	u.mu.Lock()
	o, done := u.offer, u.offerDone
	u.offer = nil
	u.mu.Unlock()
	if o != nil {
		o.Close()
		<-done
	}
}
