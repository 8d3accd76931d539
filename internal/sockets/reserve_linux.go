package sockets

import (
	"os"

	"golang.org/x/sys/unix"
)

// shareWithSameUser lets sockets of this user, and only those, bind the
// address fd binds too: Linux shares an SO_REUSEPORT address only between
// sockets of one effective uid.
func shareWithSameUser(fd int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
}
