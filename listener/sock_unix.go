//go:build unix

package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// removeStaleSocket removes a socket file nobody listens on any more, so that
// its path can be bound again. A socket someone still listens on is left
// alone and reported as in use.
func removeStaleSocket(path string) error {
	if path == "" || path[0] == '@' {
		return nil // abstract: no file
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s is not a socket: %w", path, syscall.EADDRINUSE)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: someone listens there: %w", path, syscall.EADDRINUSE)
	}
	return os.Remove(path)
}

// setReuse sets the address-sharing options every Unix system has.
func setReuse(fd int, c Config) error {
	if c.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_REUSEPORT", err)
		}
	}
	if c.ReuseAddr {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_REUSEADDR", err)
		}
	}
	return nil
}
