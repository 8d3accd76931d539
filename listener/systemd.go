package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// Socket is one descriptor a process inherited from its service manager.
// Exactly one of Listener and File is set.
type Socket struct {
	// Name is the socket's name in LISTEN_FDNAMES (FileDescriptorName= in
	// the unit), or Unnamed when no names were given.
	Name string

	// Listener is set for a listening stream socket (TCP or unix), ready
	// for acceptgate.Wrap. Closing it never removes a unix socket's path:
	// the service manager made it and keeps it.
	Listener net.Listener

	// File is set for any other descriptor: a datagram socket, a stream
	// socket that does not listen (a connection, as systemd passes with
	// Accept=yes, in whatever state its client left it), a FIFO, or a
	// listening socket that could not be made a Listener (Sockets.Listener
	// says why). The caller owns it; for a datagram socket,
	// net.FilePacketConn gives a net.PacketConn.
	File *os.File

	// err says why a socket that should listen is a File instead.
	err error
}

// Sockets are the descriptors a process inherited, in descriptor order
// (the first is descriptor 3).
type Sockets []Socket

// ErrNoSocket is returned, wrapped, by Sockets.Listener when no inherited
// listening socket has the name asked for.
var ErrNoSocket = errors.New("no inherited listening socket by that name")

// Unnamed is the name systemd gives a socket the unit did not name
// (FileDescriptorName=), and the name of every socket when LISTEN_FDNAMES
// is not set, as with systemd-socket-activate -l ADDR and no --fdname.
const Unnamed = "unknown"

// Listener returns the one listening socket called name. When no socket
// has that name and s is a single unnamed socket (see Unnamed), Listener
// returns that one: a manager that passes one socket without naming it
// means it for whatever the process asks for. It fails, wrapping
// ErrNoSocket, when there is none (also when the name belongs to a socket
// that does not listen, such as a datagram socket, or to a listening one
// that could not be made a Listener: then the error also wraps why, such
// as syscall.EADDRINUSE), and when there are several: a unit can give one
// name to several sockets, and picking one would leave the others
// unserved.
func (s Sockets) Listener(name string) (net.Listener, error) {
	var found net.Listener
	others := 0
	var why error
	for _, sk := range s {
		if sk.Name != name {
			continue
		}
		if sk.Listener == nil {
			others++
			if why == nil {
				why = sk.err
			}
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("listener: several inherited listening sockets are named %q", name)
		}
		found = sk.Listener
	}
	if found == nil && others == 0 && len(s) == 1 && s[0].Name == Unnamed && name != Unnamed {
		return s.Listener(Unnamed)
	}
	switch {
	case found != nil:
		return found, nil
	case why != nil:
		return nil, fmt.Errorf("%w: %w", why, ErrNoSocket)
	case others > 0:
		return nil, fmt.Errorf("listener: inherited socket %q does not listen for stream connections: %w", name, ErrNoSocket)
	}
	return nil, fmt.Errorf("listener: %q: %w", name, ErrNoSocket)
}

// Close closes every socket in s: the ones a caller did not take. Closing
// one twice only returns an error.
func (s Sockets) Close() error {
	var errs []error
	for _, sk := range s {
		if sk.Listener != nil {
			errs = append(errs, sk.Listener.Close())
		}
		if sk.File != nil {
			errs = append(errs, sk.File.Close())
		}
	}
	return errors.Join(errs...)
}
