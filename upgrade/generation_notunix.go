//go:build !unix

package upgrade

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// takeFromParent returns nothing: no generation hands sockets over here.
func takeFromParent(Options) (*handoff.Takeover, error) { return nil, nil }

// startNext fails, wrapping errors.ErrUnsupported: handing sockets over
// needs unix sockets that carry descriptors.
func startNext(context.Context, map[string]*acceptgate.Listener, Options) (int, error) {
	return 0, fmt.Errorf("upgrade on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
