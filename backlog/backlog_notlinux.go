//go:build !linux

package backlog

import "fmt"

func queueOf(fd uintptr) (Queue, error) {
	return Queue{}, fmt.Errorf("accept queue: %w", errUnsupported)
}

func setBacklog(fd uintptr, size int) error {
	return fmt.Errorf("listen again: %w", errUnsupported)
}

// SystemMax returns the largest backlog the kernel grants. Here it returns an
// error wrapping errors.ErrUnsupported.
func SystemMax() (int, error) {
	return 0, fmt.Errorf("backlog: system maximum: %w", errUnsupported)
}

func handshakesOf(fd uintptr) (int, error) {
	return 0, fmt.Errorf("handshakes: %w", errUnsupported)
}

func listenersOf(fd uintptr) (int, error) {
	return 0, fmt.Errorf("listeners: %w", errUnsupported)
}
