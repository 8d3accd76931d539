//go:build unix && !linux

package listener

import "fmt"

func setOptions(fd uintptr, network string, c Config) error {
	if err := setReuse(int(fd), c); err != nil {
		return err
	}
	if c.DeferAccept > 0 {
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", errUnsupported)
	}
	if c.FastOpen > 0 {
		return fmt.Errorf("TCP_FASTOPEN: %w", errUnsupported)
	}
	return nil
}
