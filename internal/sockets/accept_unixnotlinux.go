//go:build unix && !linux

package sockets

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// acceptNonblock relies on the listening socket being non-blocking, as Go
// makes it. accept4 is not everywhere, so the descriptor is marked
// close-on-exec under ForkLock, as package syscall does itself.
func acceptNonblock(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, _, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	return nfd, err
}
