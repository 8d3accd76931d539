//go:build !linux

package sockets

import (
	"fmt"
	"net"
)

// PeerUID returns the user id of the process at the other end of a unix
// socket connection (Linux only). Here it returns an error wrapping
// errors.ErrUnsupported.
func PeerUID(net.Conn) (uint32, error) {
	return 0, fmt.Errorf("peer credentials: %w", errUnsupported)
}
