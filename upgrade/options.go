package upgrade

import (
	"log/slog"
	"time"

	"github.com/acceptgate/acceptgate"
)

// DefaultUpgradeTimeout bounds an upgrade unless Options.UpgradeTimeout
// says otherwise.
const DefaultUpgradeTimeout = 30 * time.Second

// Options configure an Upgrader. The zero value is ready to use.
type Options struct {
	// UpgradeTimeout bounds an Upgrade, from starting the next generation
	// until it has taken the sockets over (its Ready), and each step of
	// the exchange between the two. The gates take no new client from the
	// moment the next generation's New received them until its Ready, so
	// keep slow setup out of that span. A next generation that has not
	// taken over by then is killed, and this one serves on. Default
	// DefaultUpgradeTimeout.
	UpgradeTimeout time.Duration

	// Executable, if set, is the program Upgrade starts as the next
	// generation, looked up when Upgrade runs. Default: os.Executable,
	// this process's own file, which on Linux is the file a symbolic link
	// led to when this process started: a deploy that switches a link
	// (releases/current/bin/server) to a new build is not followed unless
	// the link is set here.
	Executable string

	// PIDFile, if set, is written with this process's id at Ready, by
	// writing a file beside it and renaming it into place, so that a
	// reader finds either the old id or the new one, never a part. So this
	// process must be able to create files in its directory: a PID file it
	// may write in a directory it may not (a root-owned /run) fails. It is
	// left in place at exit. Default: none.
	PIDFile string

	// OfferPath, if set, also offers the sockets at this unix socket path
	// from Ready on, to a next generation started by other means than
	// Upgrade (an operator, a supervisor) with TakeoverPath set to it. The
	// gates Listen returned by Ready are offered. The directory must
	// exist; a stale socket there is replaced. Default: none.
	OfferPath string

	// TakeoverPath, if set, makes New take the sockets over from the
	// generation offering them at this path (its OfferPath), when this
	// process was not started by an Upgrade. Under systemd that needs
	// NotifyAccess=all: this generation says MAINPID= itself. Default:
	// none.
	TakeoverPath string

	// GateOptions are the options every gate is made with, taken over or
	// not. Gates always track their connections (acceptgate.WithTracking),
	// so that a shutdown can wait for the last answer. A socket's own
	// options (backlog, reuse-port) come with it when it is taken over
	// or inherited from systemd.
	GateOptions []acceptgate.Option

	// NamedGateOptions, by name, are the options of the gate of the
	// socket ListenNamed (or Adopt) names so, taken over or not, in place
	// of GateOptions (tracking stays on). A server's admin socket, say,
	// wants a bound on its connections that its served socket does not.
	// Default: none.
	NamedGateOptions map[string][]acceptgate.Option

	// Logger receives what the Upgrader does and what fails on its own
	// (a next generation that ends, a PID file that cannot be written
	// after a takeover). Default: nothing is logged.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.GateOptions = append([]acceptgate.Option{acceptgate.WithTracking()}, o.GateOptions...)
	named := make(map[string][]acceptgate.Option, len(o.NamedGateOptions))
	for name, opts := range o.NamedGateOptions {
		named[name] = append([]acceptgate.Option{acceptgate.WithTracking()}, opts...)
	}
	o.NamedGateOptions = named
	return o
}

// gateOptions are the options of the gate for the socket named name
// (empty for an address).
func (o Options) gateOptions(name string) []acceptgate.Option {
	if opts, ok := o.NamedGateOptions[name]; ok {
		return opts
	}
	return o.GateOptions
}
