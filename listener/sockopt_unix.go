//go:build unix && !linux

package listener

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func setOptions(fd uintptr, network string, c Config) error {
	s := int(fd)
	if c.ReusePort {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_REUSEPORT", err)
		}
	}
	if c.ReuseAddr {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_REUSEADDR", err)
		}
	}
	if c.DeferAccept > 0 {
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", errUnsupported)
	}
	if c.FastOpen > 0 {
		return fmt.Errorf("TCP_FASTOPEN: %w", errUnsupported)
	}
	return nil
}
