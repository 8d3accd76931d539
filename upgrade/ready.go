package upgrade

import (
	"context"
	"fmt"
	"os"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// Ready says this generation serves. After a takeover it commits it: the
// previous generation lets go of the sockets, and the gates take clients
// here. The sockets it brought that no Listen asked for are closed. Ready
// then writes the PID file if asked, and tells systemd (READY=1; after a
// takeover the previous generation says MAINPID= and READY=1 for this
// one). From then on Upgrade may start the next generation.
//
// Ready returns an error only when this process must not serve: the
// previous generation kept the sockets and serves on (it refused, or its
// go never came), or, in a first generation, the PID file could not be
// written or nothing could be offered at Options.OfferPath. Once this process holds the only copies of the sockets (the
// previous generation died after it sent them, or did not confirm it let
// go), Ready logs the takeover's error and returns nil: exiting would leave
// nobody serving.
func (u *Upgrader) Ready() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.phase != listening {
		return fmt.Errorf("upgrade: ready: called twice, or after Stop: %w", ErrStopped)
	}
	took := u.takeover != nil
	if took {
		if err := u.commitLocked(); err != nil {
			u.stopLocked()
			return err
		}
	}
	u.systemd.Close() // the manager's; this process has no use for them
	u.systemd = nil
	if u.opts.PIDFile != "" {
		if err := writePIDFile(u.opts.PIDFile); err != nil && !took {
			return err
		} else if err != nil {
			u.opts.Logger.Error("upgrade: serving, but the pid file says the previous generation", "err", err)
		}
	}
	if u.opts.OfferPath != "" {
		if err := u.offerAtPathLocked(); err != nil && !took {
			return err
		} else if err != nil {
			u.opts.Logger.Error("upgrade: serving, but offering nothing at the offer path", "err", err)
		}
	}
	if !took {
		u.notify(stateReady)
	}
	u.phase = ready
	return nil
}

// commitLocked commits the takeover, with Commit's rule for its errors,
// and closes the gates taken over that no Listen claimed.
func (u *Upgrader) commitLocked() error {
	tk := u.takeover
	u.takeover = nil
	err := tk.Commit(context.Background())
	if err != nil && committedNowhere(tk) {
		return fmt.Errorf("upgrade: ready: the previous generation (pid %d) serves on: %w", tk.PID(), err)
	}
	if err != nil {
		// The sockets serve here, and maybe only here: say so to the
		// manager ourselves, the previous generation may be gone.
		u.opts.Logger.Warn("upgrade: serving; the previous generation did not confirm it let go", "old_pid", tk.PID(), "err", err)
	}
	if err != nil || u.tookFromPath {
		u.notify(stateTakenOver(os.Getpid()))
	}
	for key, g := range u.taken {
		u.opts.Logger.Info("upgrade: closing a socket taken over that nothing listens on", "key", key, "addr", g.Addr().String())
		g.Close()
	}
	u.taken = nil
	return nil
}

// committedNowhere reports whether a failed Commit left the sockets with
// the previous generation: its gates are then closed here.
func committedNowhere(tk *handoff.Takeover) bool {
	for _, g := range tk.Listeners() {
		return g.State() == acceptgate.Closed
	}
	return true
}
