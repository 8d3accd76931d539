package bench_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/internal/bench"
)

// RejectCost accounts for every client it started, and where the gate
// lifts its fence in place (nothing to count, nothing to force), none is
// lost. HoldConnections holds what it says, both ends in this process.
func TestRejectCostAccountsForEveryClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := openFiles(t)
	release, err := bench.HoldConnections(ctx, 300)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, openFiles(t)-before, 600, "both ends of 300 connections")

	res, err := bench.RejectCost(ctx, bench.RejectCostConfig{Rate: 500, Cycles: 20, Hold: 2 * time.Millisecond, Timeout: 30 * time.Second})
	release()
	require.NoError(t, err)
	assert.Equal(t, 20, res.Cycles)
	assert.NotEmpty(t, res.Method)
	assert.Positive(t, res.Clients)
	assert.Equal(t, res.Clients, res.Served+res.Refused+res.Reset+res.Waiting+res.TimedOut)
	assert.LessOrEqual(t, res.RejectP50, res.RejectP99)
	assert.LessOrEqual(t, res.RejectP99, res.RejectMax)
	if strings.Contains(res.Method, "lifted in place") {
		assert.Zero(t, res.Lost(), "%+v", res)
		assert.Zero(t, res.Forced, "%+v", res)
	}
	t.Logf("%s: %+v", res.Method, res)
}

// RejectCost counts forced stops by the warning the gate logs for one:
// the words it looks for are the gate's.
func TestRejectCostKnowsTheForcedStopWarning(t *testing.T) {
	src, err := os.ReadFile("../../stop_linux.go")
	require.NoError(t, err)
	assert.Contains(t, string(src), `"`+bench.ForcedStopWarning)
}

func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}
