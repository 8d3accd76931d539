package backlog

import (
	"errors"
	"fmt"
	"runtime"
)

var errUnsupported = fmt.Errorf("not on %s: %w", runtime.GOOS, errors.ErrUnsupported)
