//go:build !linux

package main

import (
	"errors"
	"fmt"
	"io"
)

// run needs Linux: it finds each upgrade's next process as an orphan it
// adopted (PR_SET_CHILD_SUBREAPER).
func run(config, io.Writer) ([]result, error) {
	return nil, fmt.Errorf("compare runs on Linux only: %w", errors.ErrUnsupported)
}
