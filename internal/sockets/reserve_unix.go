//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/internal/faults"
)

// Reserve binds a TCP socket to ip:port that never listens, and returns it
// to close: a client connecting there is refused at once (ECONNREFUSED), and
// no socket of another user can bind the address meanwhile. It sets no
// SO_REUSEADDR; on Linux it sets SO_REUSEPORT, which the kernel honours
// only between sockets of the same user, so that the next generation of
// this program, taking the admin socket over, can reserve the address
// beside this one before this one lets it go (elsewhere SO_REUSEPORT is not
// tied to a user, and it is not set). The descriptor is not inherited by
// programs this one executes.
//
// If ip is not an address of this host (::1 where IPv6 is off), no socket
// can bind it at all: Reserve returns a nil Closer and no error. A taken
// address is an error wrapping syscall.EADDRINUSE.
func Reserve(ip net.IP, port int) (io.Closer, error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: port})
	if ip4 := ip.To4(); ip4 != nil {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: [4]byte(ip4)}
	} else {
		copy(sa.(*unix.SockaddrInet6).Addr[:], ip.To16())
	}
	// Under ForkLock, so that no fork between socket and CloseOnExec hands
	// the descriptor on (not every system here has SOCK_CLOEXEC).
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, nil // no such family here: nobody can bind ip
		}
		return nil, fmt.Errorf("reserve %s: %w", addrString(ip, port), os.NewSyscallError("socket", err))
	}
	err = faults.Check(faults.Reserve)
	if err == nil {
		err = shareWithSameUser(fd)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), "reserved "+addrString(ip, port)), nil
	case errors.Is(err, unix.EADDRNOTAVAIL), errors.Is(err, unix.EAFNOSUPPORT):
		unix.Close(fd)
		return nil, nil
	}
	unix.Close(fd)
	return nil, fmt.Errorf("reserve %s: %w", addrString(ip, port), os.NewSyscallError("bind", err))
}
