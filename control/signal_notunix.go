//go:build !unix

package control

import (
	"errors"
	"fmt"

	"github.com/acceptgate/acceptgate"
)

// HandleSignals pauses gates on SIGTTOU and resumes them on SIGTTIN. This
// platform has neither signal: it returns an error wrapping
// errors.ErrUnsupported.
func HandleSignals(gates []*acceptgate.Listener, opts ...Option) (stop func(), err error) {
	return nil, fmt.Errorf("control: SIGTTOU and SIGTTIN: %w", errors.ErrUnsupported)
}
