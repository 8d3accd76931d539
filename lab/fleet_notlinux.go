//go:build !linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("fleet: runs on Linux only (it reads /proc to follow processes it did not start): %w", errors.ErrUnsupported)
}
