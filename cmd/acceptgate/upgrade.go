package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
		case "addr", "admin", "agent", "reuseport", "backlog", "systemd":
			if f.takeover != "" && err == nil {
				err = fmt.Errorf("--%s with --takeover: the sockets, the admin and agent ones included, come with their own addresses and options", fl.Name)
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
