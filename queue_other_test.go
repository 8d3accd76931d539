//go:build !linux

package acceptgate_test

import (
	"testing"

	"github.com/acceptgate/acceptgate"
)

// kernelQueue cannot ask the kernel here; tests that need it skip.
func kernelQueue(*testing.T, *acceptgate.Listener) (int, bool) { return 0, false }
