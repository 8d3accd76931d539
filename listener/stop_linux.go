package listener

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// StopListening makes ln's socket stop listening while its descriptor stays
// open: new clients are refused (ECONNREFUSED) and goroutines blocked in
// ln.Accept fail. Connections still in the accept queue are reset by the
// kernel: take them out with AcceptQueued first. Relisten listens again.
//
// It needs a TCP socket on Linux; a unix socket cannot listen again after
// this, so it is refused with an error wrapping errors.ErrUnsupported.
func StopListening(ln net.Listener) error {
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return fmt.Errorf("stop listening on %s socket: %w", ln.Addr().Network(), errUnsupported)
	}
	return control(ln, func(fd int) error {
		return os.NewSyscallError("shutdown", unix.Shutdown(fd, unix.SHUT_RD))
	})
}
