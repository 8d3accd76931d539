package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// upgradeConflicts refuses flags that cannot go with an upgrade: a taken
// over socket comes with its own address and options, and a TLS admin
// listener has no socket to hand over.
func upgradeConflicts(fs *flag.FlagSet, f *serveFlags) error {
	if f.takeover == "" && f.upgradeSocket == "" {
		return nil
	}
	if f.takeover != "" && f.upgradeSocket == "" {
		f.upgradeSocket = f.takeover
	}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "addr", "admin", "reuseport", "backlog", "systemd":
			if f.takeover != "" && err == nil {
				err = fmt.Errorf("--%s with --takeover: the sockets, the admin one included, come with their own addresses and options", fl.Name)
			}
		}
	})
	if err != nil {
		return err
	}
	if f.takeover != "" {
		f.admin = "" // the admin API is served on the socket taken over, if any
	}
	if f.adminCert != "" {
		return fmt.Errorf("--admin-cert with --upgrade-socket: a TLS admin listener cannot be handed over: %w", errors.ErrUnsupported)
	}
	// Checked before anything is taken over: a new instance that could not
	// offer the sockets on would find out only once it serves them.
	if fi, err := os.Stat(filepath.Dir(f.upgradeSocket)); err != nil || !fi.IsDir() {
		return fmt.Errorf("--upgrade-socket %s: its directory must exist: %v", f.upgradeSocket, err)
	}
	return nil
}

// takeOver takes the sockets from the instance offering them at path: the
// served one, made a gate with opts, and the admin one if it has one.
func takeOver(ctx context.Context, path string, opts []acceptgate.Option) (*handoff.Takeover, *acceptgate.Listener, net.Listener, error) {
	t, err := handoff.Take(ctx, path, handoff.WithGateOptions(func(name string) []acceptgate.Option {
		switch name {
		case "http":
			return opts
		case "admin":
			return adminGateOptions
		}
		return nil
	}))
	if err != nil {
		return nil, nil, nil, err
	}
	gates := t.Listeners()
	gate := gates["http"]
	if gate == nil {
		t.Abort()
		return nil, nil, nil, errors.New(`the instance offered no socket named "http"`)
	}
	var admin net.Listener
	if g := gates["admin"]; g != nil {
		admin = g
	}
	return t, gate, admin, nil
}

// offerUpgrades offers the gates at f.upgradeSocket and, on SIGHUP, starts
// this program again to take them. handed receives nil once they are
// handed over, or the error that ends the offer.
func offerUpgrades(ctx context.Context, f serveFlags, gate, admin *acceptgate.Listener, logger *slog.Logger, handed chan<- error) (stop func(), err error) {
	gates := map[string]*acceptgate.Listener{"http": gate}
	if admin != nil {
		gates["admin"] = admin
	}
	// SIGHUP is caught before the offer socket exists: a supervisor that
	// waits for the socket and then signals must never meet the default
	// action, which ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	o, err := handoff.Listen(ctx, f.upgradeSocket, gates, handoff.WithLogger(logger))
	if err != nil {
		signal.Stop(hup)
		return nil, fmt.Errorf("serve: --upgrade-socket: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		err := o.Serve(ctx)
		if errors.Is(err, context.Canceled) {
			return
		}
		handed <- err
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				startNext(ctx, f, logger)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		o.Close()
		<-served
	}, nil
}

// startNext starts this program again with the same flags and --takeover,
// as tableflip does. If the new instance fails before it serves, the offer
// rolls back and this one serves on; its exit is logged.
func startNext(ctx context.Context, f serveFlags, logger *slog.Logger) {
	self, err := os.Executable()
	if err != nil {
		logger.Error("acceptgate: SIGHUP: cannot find this program", "err", err)
		return
	}
	args := []string{"serve"}
	for i := 0; i < len(f.args); i++ {
		a := f.args[i]
		switch a {
		case "--reuseport", "-reuseport", "--systemd", "-systemd":
			continue
		case "--takeover", "-takeover", "--addr", "-addr", "--admin", "-admin", "--backlog", "-backlog":
			i++ // and its value
			continue
		}
		if hasFlagPrefix(a, "takeover", "addr", "admin", "reuseport", "backlog", "systemd") {
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--takeover", f.upgradeSocket)
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logger.Error("acceptgate: SIGHUP: starting the new instance", "err", err)
		return
	}
	logger.Info("acceptgate: SIGHUP: started the new instance", "pid", cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		if ctx.Err() == nil {
			logger.Warn("acceptgate: the new instance ended before it took over; serving on", "pid", cmd.Process.Pid, "err", err)
		}
	}()
}

// hasFlagPrefix reports whether a is -name=... or --name=... for one of
// names.
func hasFlagPrefix(a string, names ...string) bool {
	for _, n := range names {
		for _, p := range []string{"-" + n + "=", "--" + n + "="} {
			if len(a) >= len(p) && a[:len(p)] == p {
				return true
			}
		}
	}
	return false
}
