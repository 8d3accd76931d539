//go:build !unix

package sockets

import (
	"fmt"
	"net"
)

// Relisten calls listen() again on ln's socket; see the Unix documentation.
// Here it returns an error wrapping errors.ErrUnsupported.
func Relisten(ln net.Listener, backlog int) error {
	return fmt.Errorf("listen again on %s: %w", ln.Addr(), errUnsupported)
}

// AcceptQueued takes every connection waiting in ln's accept queue without
// blocking. Here it returns an error wrapping errors.ErrUnsupported.
func AcceptQueued(ln net.Listener) ([]net.Conn, error) {
	return nil, fmt.Errorf("accept queued on %s: %w", ln.Addr(), errUnsupported)
}

// StopListening makes ln's socket stop listening while its descriptor stays
// open. Here it returns an error wrapping errors.ErrUnsupported.
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
