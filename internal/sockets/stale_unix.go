//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// RemoveStale removes a unix socket file nobody listens on any more, so that
// its path can be bound again. A socket someone still listens on is left
// alone and reported as in use.
func RemoveStale(path string) error {
	if path == "" || path[0] == '@' || path[0] == 0 {
		return nil // abstract, as Go's net package reads it: no file
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
	c, err := net.DialTimeout("unix", path, time.Second)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("%s: someone listens there: %w", path, syscall.EADDRINUSE)
	case errors.Is(err, syscall.EPROTOTYPE):
		// A socket of another type (SOCK_SEQPACKET) is bound there.
		return fmt.Errorf("%s: a socket of another type is bound there: %w", path, syscall.EADDRINUSE)
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: cannot tell whether it is in use: %w", path, err)
	}
	return os.Remove(path)
}
