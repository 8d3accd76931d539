//go:build !linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// rejectcost measures the ways Linux refuses in network namespaces it
// makes; other systems have one way, and no namespaces to make.
const (
	costRunCommand  = "rejectcost-run"
	costHoldCommand = "rejectcost-hold"
)

func runRejectCost(context.Context, []string, io.Writer, io.Writer) error {
	return fmt.Errorf("rejectcost runs on Linux only: %w", errors.ErrUnsupported)
}

func runCostRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRejectCost(ctx, args, stdout, stderr)
}

func runHold(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRejectCost(ctx, args, stdout, stderr)
}
