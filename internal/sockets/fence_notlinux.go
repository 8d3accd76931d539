//go:build !linux

package sockets

import (
	"fmt"
	"net"
)

// Fence makes a listening TCP socket refuse new clients while it keeps
// listening (Linux only). Here it returns an error wrapping
// errors.ErrUnsupported.
func Fence(ln net.Listener) (unfence func() error, err error) {
	return nil, fmt.Errorf("fence %s: %w", ln.Addr(), errUnsupported)
}

// FenceDevice returns the interface Fence would use (Linux only). Here it
// returns an error wrapping errors.ErrUnsupported.
func FenceDevice(ip net.IP) (string, error) {
	return "", fmt.Errorf("fence device: %w", errUnsupported)
}

// CanLiftFence reports whether this process may lift a fence (Linux only).
// Here it returns false.
func CanLiftFence() bool { return false }

// Unfence lifts a fence another process put up (Linux only). Here it
// returns an error wrapping errors.ErrUnsupported.
func Unfence(ln net.Listener) error {
	return fmt.Errorf("unfence %s: %w", ln.Addr(), errUnsupported)
}
