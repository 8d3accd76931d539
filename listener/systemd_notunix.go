//go:build !unix || aix

package listener

import "fmt"

// Systemd returns the sockets passed by systemd socket activation. Here it
// always fails, wrapping errors.ErrUnsupported.
func Systemd(unsetEnv bool) (Sockets, error) {
	return nil, fmt.Errorf("listener: socket activation: %w", errUnsupported)
}
