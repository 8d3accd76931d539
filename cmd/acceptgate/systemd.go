package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/acceptgate/acceptgate/control"
)

// systemdConflicts refuses flags that --systemd makes meaningless: the unit
// decides the sockets' addresses and options.
func systemdConflicts(fs *flag.FlagSet, systemd bool) error {
	if !systemd {
		return nil
	}
	var set []string
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "addr", "reuseport", "backlog":
			set = append(set, "--"+fl.Name)
		}
	})
	if len(set) > 0 {
		return fmt.Errorf("--systemd takes the sockets from the unit; %s would be ignored", strings.Join(set, ", "))
	}
	return nil
}

// systemdNamed reports whether systemd passed this process a socket
// named name (LISTEN_FDNAMES), before anything reads them.
func systemdNamed(name string) bool {
	return slices.Contains(strings.Split(os.Getenv("LISTEN_FDNAMES"), ":"), name)
}

// inheritedAdmin serves the admin API on a socket systemd or the previous
// instance (--takeover) passed, under the rules ListenAdmin applies to the
// ones it makes: off loopback only with a token; on a unix socket other
// users may reach (systemd's default SocketMode is 0666, an abstract name,
// a file of another user) only with a token, since the API lets every
// client of a unix socket in without one.
func inheritedAdmin(ln net.Listener, hasToken bool, tlsConfig *tls.Config) (net.Listener, error) {
	switch a := ln.Addr().(type) {
	case *net.TCPAddr:
		if !hasToken && !a.IP.IsLoopback() {
			ln.Close()
			return nil, fmt.Errorf("inherited admin socket %s: off loopback the admin API needs a token", a)
		}
		if tlsConfig != nil {
			return tls.NewListener(ln, tlsConfig.Clone()), nil
		}
		return ln, nil
	case *net.UnixAddr:
		if tlsConfig != nil {
			ln.Close()
			return nil, fmt.Errorf("inherited admin socket %s: TLS on a unix socket: %w", a, errors.ErrUnsupported)
		}
		if hasToken {
			return ln, nil
		}
		// Lstat'ed by its own name, never followed, and never an abstract
		// name, which has no file (a file of that name in the working
		// directory says nothing about who may connect).
		if err := control.CheckInheritedSocket(a.Name); err != nil {
			ln.Close()
			return nil, fmt.Errorf("inherited admin socket: %w: others could use the API; make it 0600 (SocketMode=0600 under systemd) and a file path, or set a token", err)
		}
		return ln, nil
	}
	ln.Close()
	return nil, fmt.Errorf("inherited admin socket %s: not TCP or unix", ln.Addr())
}
