package sockets

import (
	"os"

	"golang.org/x/sys/unix"
)

// shareWithSameUser lets sockets of this user, and only those, bind the
// address fd binds too: Linux shares an SO_REUSEPORT address only between
// sockets of one effective uid.
func shareWithSameUser(fd int) error { return setReusePort(fd, true) }

// SetReusePort sets or clears SO_REUSEPORT on a listener's socket. Linux
// reads the flag when another socket binds or listens on the same address,
// so clearing it once that socket listens keeps any further one out: see
// the gate's bindBeside.
func SetReusePort(ln any, on bool) error {
	return control(ln, func(fd int) error { return setReusePort(fd, on) })
}

func setReusePort(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return os.NewSyscallError("setsockopt SO_REUSEPORT", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, v))
}
