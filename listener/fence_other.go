//go:build !linux

package listener

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
