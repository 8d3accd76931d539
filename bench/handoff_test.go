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

	"github.com/acceptgate/acceptgate/bench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHandoffUnderLoadResetsNoOne moves traffic back and forth between two
// SO_REUSEPORT gates under a continuous loop of clients. Reject takes its
// queue out before it stops listening, and with net.ipv4.tcp_migrate_req=1
// the kernel moves the handshakes still in flight to the socket that stays,
// so no client that saw its connect succeed may be reset. Without the sysctl
// the kernel resets those handshakes (about 0.2 per 10,000 connections here,
// see the README), so the test needs it.
func TestHandoffUnderLoadResetsNoOne(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("needs net.ipv4.tcp_migrate_req=1 (.ci/run sets it when it can)")
	}
	for _, leave := range []bench.LeaveMode{bench.LeaveReject, bench.LeaveClose} {
		t.Run(leave.String(), func(t *testing.T) {
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
