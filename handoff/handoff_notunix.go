//go:build !unix

package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/acceptgate/acceptgate"
)

var errUnsupported = fmt.Errorf("handoff on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Offer offers a process's gates to the next process (Unix only).
type Offer struct{}

// Listen returns an error wrapping errors.ErrUnsupported: handing sockets
// over needs unix sockets that carry descriptors.
func Listen(context.Context, string, map[string]*acceptgate.Listener, ...Option) (*Offer, error) {
	return nil, errUnsupported
}

// Addr returns nil.
func (*Offer) Addr() net.Addr { return nil }

// Close does nothing.
func (*Offer) Close() error { return nil }

// Serve returns an error wrapping errors.ErrUnsupported.
func (*Offer) Serve(context.Context) error { return errUnsupported }

// Hand returns an error wrapping errors.ErrUnsupported.
func Hand(context.Context, *net.UnixConn, map[string]*acceptgate.Listener, ...Option) error {
	return errUnsupported
}

// TakeConn returns an error wrapping errors.ErrUnsupported.
func TakeConn(context.Context, *net.UnixConn, ...Option) (*Takeover, error) {
	return nil, errUnsupported
}

// Takeover is the taking side of an exchange (Unix only).
type Takeover struct{}

// Take returns an error wrapping errors.ErrUnsupported.
func Take(context.Context, string, ...Option) (*Takeover, error) { return nil, errUnsupported }

// Listeners returns nil.
func (*Takeover) Listeners() map[string]*acceptgate.Listener { return nil }

// PID returns 0.
func (*Takeover) PID() int { return 0 }

// Started returns the zero time.
func (*Takeover) Started() time.Time { return time.Time{} }

// Commit returns an error wrapping errors.ErrUnsupported.
func (*Takeover) Commit(context.Context) error { return errUnsupported }

// Abort does nothing.
func (*Takeover) Abort() error { return nil }
