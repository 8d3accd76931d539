//go:build !unix

package listener

import "fmt"

func setOptions(fd uintptr, network string, c Config) error {
	switch {
	case c.ReusePort:
		return fmt.Errorf("SO_REUSEPORT: %w", errUnsupported)
	case c.ReuseAddr:
		return fmt.Errorf("SO_REUSEADDR: %w", errUnsupported)
	case c.DeferAccept > 0:
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", errUnsupported)
	case c.FastOpen > 0:
		return fmt.Errorf("TCP_FASTOPEN: %w", errUnsupported)
	}
	return nil
}
