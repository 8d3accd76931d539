package listener

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func setOptions(fd uintptr, network string, c Config) error {
	s := int(fd)
	if err := setReuse(s, c); err != nil {
		return err
	}
	tcp := strings.HasPrefix(network, "tcp")
	if c.DeferAccept > 0 {
		if !tcp {
			return fmt.Errorf("TCP_DEFER_ACCEPT on %s: %w", network, errUnsupported)
		}
		secs := int((c.DeferAccept + 999999999) / 1000000000) // round up: any wait at all
		if err := unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, secs); err != nil {
			return os.NewSyscallError("setsockopt TCP_DEFER_ACCEPT", err)
		}
	}
	if c.FastOpen > 0 {
		if !tcp {
			return fmt.Errorf("TCP_FASTOPEN on %s: %w", network, errUnsupported)
		}
		if err := unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_FASTOPEN, c.FastOpen); err != nil {
			return os.NewSyscallError("setsockopt TCP_FASTOPEN", err)
		}
	}
	return nil
}
