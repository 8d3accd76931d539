//go:build !linux

package sockets

import "fmt"

// LeadsTo reports whether the file at path is the one the unix socket ln
// was bound to. Only Linux tells (sock_diag): here it returns an error
// wrapping errors.ErrUnsupported.
func LeadsTo(ln any, path string) (bool, error) {
	return false, fmt.Errorf("which file a unix socket is bound to: %w", errUnsupported)
}
