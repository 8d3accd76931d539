package upgrade

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
	"github.com/acceptgate/acceptgate/listener"
)

// Errors an Upgrader's methods return, wrapped, where a caller may branch.
var (
	// ErrInProgress: Upgrade was called while another upgrade was under
	// way. The one under way goes on; this call changed nothing.
	ErrInProgress = errors.New("upgrade: an upgrade is already under way")
	// ErrNotReady: Upgrade was called before Ready.
	ErrNotReady = errors.New("upgrade: not ready")
	// ErrStopped: the Upgrader was stopped, or its sockets were handed to
	// the next generation.
	ErrStopped = errors.New("upgrade: stopped")
)

// phase is where an Upgrader is in its life.
type phase int

const (
	listening  phase = iota // before Ready: Listen makes or takes gates
	ready                   // serving; Upgrade may start the next generation
	upgrading               // an Upgrade is under way
	handedOver              // the next generation took the sockets; Exit is closed
	stopped                 // Stop was called, or Ready failed; Exit is closed
)

// An Upgrader is one generation of a server that upgrades in place: it
// makes the server's gates (Listen), takes them over from the generation
// before it if there is one, and hands them to the next one (Upgrade). Its
// methods may be called from any goroutine.
type Upgrader struct {
	opts Options
	exit chan struct{} // closed on leaving for good (handedOver, stopped)

	mu sync.Mutex
	// The fields below are guarded by mu.
	phase phase
	gates map[string]*acceptgate.Listener // by key, what Listen returned
	// takeover is the exchange with the generation before, until Ready;
	// taken holds the gates it brought that Listen has not claimed yet.
	takeover *handoff.Takeover
	taken    map[string]*acceptgate.Listener
	// systemd holds the sockets the service manager passed that Listen
	// has not claimed yet.
	systemd listener.Sockets
	// cancel ends the upgrade under way (Stop).
	cancel context.CancelFunc
	// tookFromPath: the takeover came from Options.TakeoverPath, whose
	// offer does not know this process's id to tell systemd.
	tookFromPath bool
	// offer is the offer at Options.OfferPath, served until offerDone.
	offer     *handoff.Offer
	offerDone chan struct{}
}

// New returns the Upgrader of this generation. If this process was started
// by a generation's Upgrade, New takes the sockets over from it; they are
// served by the gates Listen returns for the same networks and addresses
// (or names). Otherwise it takes the sockets systemd passed, if any.
//
// An error after a takeover began means the previous generation serves on:
// exit. New changes nothing in the environment a child of this process
// sees but the variables meant for this process (LISTEN_FDS and the
// previous generation's), which it removes.
func New(opts Options) (*Upgrader, error) {
	u := &Upgrader{opts: opts.withDefaults(), exit: make(chan struct{}), gates: make(map[string]*acceptgate.Listener)}
	tk, err := takeFromParent(u.opts)
	if err != nil {
		return nil, err
	}
	if tk == nil && u.opts.TakeoverPath != "" {
		u.tookFromPath = true
		if tk, err = handoff.Take(context.Background(), u.opts.TakeoverPath, u.handoffOptions()...); err != nil {
			return nil, fmt.Errorf("upgrade: taking the sockets over; the previous generation serves on: %w", err)
		}
	}
	if tk != nil {
		u.takeover, u.taken = tk, tk.Listeners()
		u.opts.Logger.Info("upgrade: took the sockets over", "from_pid", tk.PID(), "sockets", len(u.taken))
		return u, nil
	}
	// Where there is no socket activation (Windows), there are no sockets.
	if u.systemd, err = listener.Systemd(true); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return u, nil
}

// Upgrade starts the next generation: this program again, from
// os.Executable or Options.Executable, with the same arguments and
// environment, its standard input, output and error this process's, in
// this process's process group (so that a terminal's ^C or a unit's
// KillMode= reaches it, as it reaches this one). It hands every gate
// Listen returned over to it and returns nil once the next generation's
// Ready has taken them; Exit is then closed, and this generation should
// finish its requests and exit.
//
// Upgrade returns an error, and this generation serves on with nothing
// changed, if the next generation cannot be started, exits, refuses the
// sockets (the error wraps handoff.ErrRefused), or has not taken them
// over within Options.UpgradeTimeout (it wraps
// context.DeadlineExceeded); a next generation still running then is
// killed. A call while an upgrade is under way returns at once with an
// error wrapping ErrInProgress, one before Ready ErrNotReady, one after
// Stop or a handover ErrStopped.
//
// Catch SIGHUP before Ready: systemd may ask for a reload as soon as it
// hears READY=1, and SIGHUP's default action ends the process. An Upgrade
// that a successor's signal handler calls while its Ready is still
// committing waits for that Ready.
//
// It tells systemd RELOADING=1 when it begins and READY=1 when it ends,
// with MAINPID= of the next generation when that one took over. While it
// runs nothing is offered at Options.OfferPath, which the next generation
// offers at as soon as it serves; after a failure this one offers there
// again.
func (u *Upgrader) Upgrade() error {
	ctx, gates, err := u.beginUpgrade()
	if err != nil {
		return err
	}
	u.notify(stateReloading())
	// The next generation offers at the same path once it serves, while
	// this one still waits for the exchange to end: the path must be free
	// by then. Nobody could take over there meanwhile anyway.
	u.closeOffer()
	pid, err := startNext(ctx, gates, u.opts)
	if err := u.endUpgrade(pid, err); err != nil {
		u.reoffer()
		return err
	}
	return nil
}

// reoffer offers at Options.OfferPath again after an upgrade that failed.
func (u *Upgrader) reoffer() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.opts.OfferPath == "" || u.phase != ready || u.offer != nil {
		return
	}
	if err := u.offerAtPathLocked(); err != nil {
		u.opts.Logger.Error("upgrade: serving, but offering nothing at the offer path", "err", err)
	}
}

// beginUpgrade moves to upgrading and returns what the upgrade hands over,
// with a context Stop cancels.
func (u *Upgrader) beginUpgrade() (context.Context, map[string]*acceptgate.Listener, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.phase {
	case listening:
		return nil, nil, ErrNotReady
	case upgrading:
		return nil, nil, ErrInProgress
	case handedOver, stopped:
		return nil, nil, ErrStopped
	}
	if len(u.gates) == 0 {
		return nil, nil, errors.New("upgrade: nothing to hand over: Listen was never called")
	}
	u.phase = upgrading
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	return ctx, maps.Clone(u.gates), nil
}

// endUpgrade records how the upgrade ended, and says it to systemd.
func (u *Upgrader) endUpgrade(pid int, err error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cancel()
	if err != nil {
		if u.phase == upgrading { // not stopped meanwhile
			u.phase = ready
			u.notify(stateReady)
		}
		u.opts.Logger.Warn("upgrade: the next generation did not take over; serving on", "err", err)
		return err
	}
	u.notify(stateTakenOver(pid))
	u.phase = handedOver
	u.closeExitLocked()
	u.opts.Logger.Info("upgrade: the next generation took over", "pid", pid)
	return nil
}

// Exit returns a channel closed when the next generation has taken the
// sockets over, or on Stop: then shut the servers down (they finish the
// requests they accepted) and exit.
func (u *Upgrader) Exit() <-chan struct{} { return u.exit }

// Stop ends this generation's part: an upgrade under way is rolled back
// (its next generation killed), a takeover not yet committed is aborted
// (the previous generation serves on), Exit is closed, and systemd is told
// STOPPING=1 unless this process is not the service's (it handed the
// sockets over, or is still taking them over); during an upgrade it still
// is. Stop does not close the gates: shut the servers down after it.
// Calling it again does nothing.
func (u *Upgrader) Stop() {
	u.stop()
	u.closeOffer()
}

func (u *Upgrader) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.phase == handedOver || u.phase == stopped {
		return
	}
	if u.takeover != nil {
		// Not the service yet: the previous generation is, and serves on.
		u.takeover.Abort()
		u.takeover = nil
		u.stopLocked()
		return
	}
	u.stopLocked()
	u.notify(stateStopping)
}

func (u *Upgrader) stopLocked() {
	if u.cancel != nil {
		u.cancel()
	}
	u.phase = stopped
	u.closeExitLocked()
}

func (u *Upgrader) closeExitLocked() {
	select {
	case <-u.exit:
	default:
		close(u.exit)
	}
}

// notify tells the service manager state, logging a failure: a server
// serves on whether or not the manager hears it.
func (u *Upgrader) notify(state string) {
	if err := notify(state); err != nil {
		u.opts.Logger.Warn("upgrade: telling the service manager", "state", state, "err", err)
	}
}
