//go:build unix && !linux

package sockets

import (
	"fmt"
	"net"
)

// StopListening makes ln's socket stop listening while its descriptor stays
// open. Only Linux can listen again on such a socket; here it returns an
// error wrapping errors.ErrUnsupported: close the listener and Rebind.
func StopListening(ln net.Listener) error {
	return fmt.Errorf("stop listening on %s: %w", ln.Addr(), errUnsupported)
}

// HoldPort keeps the address of a socket stopped by StopListening from
// being taken. Here it returns an error wrapping errors.ErrUnsupported.
func HoldPort(ln net.Listener) (release func() error, err error) {
	return nil, fmt.Errorf("hold port of %s: %w", ln.Addr(), errUnsupported)
}

// ReleasePort gives back the port held by another process's HoldPort. Here
// it returns an error wrapping errors.ErrUnsupported.
func ReleasePort(ln net.Listener) error {
	return fmt.Errorf("release port of %s: %w", ln.Addr(), errUnsupported)
}
