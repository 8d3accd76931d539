//go:build linux

package bench_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/internal/bench"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(generationEnv); path != "" {
		os.Exit(runGeneration(path))
	}
	goleak.VerifyTestMain(m)
}

// TestHandoffUnderLoadResetsNoOne moves traffic back and forth between two
// SO_REUSEPORT gates under a continuous loop of clients; no client that saw
// its connect succeed may be reset. Reject takes the leaving socket's queue
// out and stops it once no handshake is under way on it, so that it leaves
// the group and the other socket takes every new client; that needs neither
// a privilege nor a spare interface. Close cannot drain, and needs the
// kernel to move what it had queued: net.ipv4.tcp_migrate_req=1, which
// .ci/run sets in a network namespace of its own.
func TestHandoffUnderLoadResetsNoOne(t *testing.T) {
	for _, leave := range []bench.LeaveMode{bench.LeaveReject, bench.LeaveClose} {
		t.Run(leave.String(), func(t *testing.T) {
			switch {
			case leave == bench.LeaveClose && !migrates():
				t.Skip("needs net.ipv4.tcp_migrate_req=1 (.ci/run sets it in a namespace of its own)")
			}
			r, err := bench.Handoff(context.Background(), bench.HandoffConfig{Conns: 4000, Handoffs: 40, Leave: leave})
			require.NoError(t, err)
			t.Logf("%+v", r)
			assert.Equal(t, 40, r.Handoffs)
			assert.Equal(t, 4000, r.Conns)
			assert.Zero(t, r.Reset, "clients reset after their connect succeeded")
			assert.Zero(t, r.TimedOut)
		})
	}
}

func migrates() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
