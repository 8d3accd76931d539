//go:build !linux

package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
)

// Wire is a link between two network namespaces; see New.
type Wire struct{}

// New needs Linux.
func New(cfg Config) (*Wire, error) {
	return nil, fmt.Errorf("wire on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func (w *Wire) Server(f func() error) error { return errors.ErrUnsupported }
func (w *Wire) Client(f func() error) error { return errors.ErrUnsupported }
func (w *Wire) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errors.ErrUnsupported
}
func (w *Wire) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return nil, errors.ErrUnsupported
}
func (w *Wire) Addr() string { return ServerIP }
func (w *Wire) Stats() Stats { return Stats{} }
func (w *Wire) Close() error { return nil }
