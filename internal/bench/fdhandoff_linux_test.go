//go:build linux

package bench_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/internal/bench"
)

// The test binary, started again with generationEnv set to the offer's
// path, is one server generation of FDHandoff.
const (
	generationEnv     = "ACCEPTGATE_BENCH_GENERATION"
	generationTakeEnv = "ACCEPTGATE_BENCH_GENERATION_TAKE"
	generationAddrEnv = "ACCEPTGATE_BENCH_GENERATION_ADDR"
)

func runGeneration(path string) int {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin) // the run ends this generation by closing stdin
		cancel()
	}()
	if err := bench.ServeGeneration(ctx, path, os.Getenv(generationTakeEnv) != "", os.Getenv(generationAddrEnv), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "generation:", err)
		return 1
	}
	return 0
}

func generationCommand(path string, take bool, address string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), generationEnv+"="+path, generationAddrEnv+"="+address)
	if take {
		cmd.Env = append(cmd.Env, generationTakeEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	return cmd
}

// TestFDHandoffResetsNoOne moves the listening socket from process to
// process by passing it, under a continuous loop of clients: nobody is
// refused, reset or left waiting, with no privilege and whatever
// net.ipv4.tcp_migrate_req says.
func TestFDHandoffResetsNoOne(t *testing.T) {
	r, err := bench.FDHandoff(context.Background(), bench.FDHandoffConfig{Conns: 3000, Handoffs: 15, Command: generationCommand})
	require.NoError(t, err)
	t.Logf("%+v", r)
	assert.Equal(t, 15, r.Handoffs)
	assert.Equal(t, 3000, r.Served, "every client served")
	assert.Zero(t, r.Refused)
	assert.Zero(t, r.Reset)
	assert.Zero(t, r.TimedOut)
	assert.Positive(t, r.HandoffP50)
}
