package upgrade

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
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
// written. Once this process holds the only copies of the sockets (the
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

// Upgrade starts the next generation: this program again, from
// os.Executable, with the same arguments and environment, its standard
// input, output and error this process's, in this process's process group
// (so that a terminal's ^C or a unit's KillMode= reaches it, as it reaches
// this one). It hands every gate Listen returned over to it and returns
// nil once the next generation's Ready has taken them; Exit is then
// closed, and this generation should finish its requests and exit.
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
// with MAINPID= of the next generation when that one took over.
func (u *Upgrader) Upgrade() error {
	ctx, gates, err := u.beginUpgrade()
	if err != nil {
		return err
	}
	u.notify(stateReloading())
	pid, err := startNext(ctx, gates, u.opts)
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

// Exit returns a channel closed when the next generation has taken the
// sockets over, or on Stop: then shut the servers down (they finish the
// requests they accepted) and exit.
func (u *Upgrader) Exit() <-chan struct{} { return u.exit }

// Stop ends this generation's part: an upgrade under way is rolled back
// (its next generation killed), a takeover not yet committed is aborted
// (the previous generation serves on), Exit is closed, and systemd is told
// STOPPING=1 unless this process is not the service's (it was handing the
// sockets over, or still taking them over). Stop does not close the
// gates: shut the servers down after it. Calling it again does nothing.
func (u *Upgrader) Stop() {
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
