//go:build linux

package bench_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/bench"
	"github.com/acceptgate/acceptgate/listener"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHandoffUnderLoadResetsNoOne moves traffic back and forth between two
// SO_REUSEPORT gates under a continuous loop of clients; no client that saw
// its connect succeed may be reset. Reject fences the leaving socket, so new
// clients go to the other one, while it delivers what it had admitted: that
// needs an interface no client arrives on (not in a namespace with only lo),
// and no privilege. Close cannot drain, and needs the kernel to move what it
// had queued: net.ipv4.tcp_migrate_req=1, which .ci/run sets in a network
// namespace of its own.
func TestHandoffUnderLoadResetsNoOne(t *testing.T) {
	for _, leave := range []bench.LeaveMode{bench.LeaveReject, bench.LeaveClose} {
		t.Run(leave.String(), func(t *testing.T) {
			switch {
			case leave == bench.LeaveReject && !canFence(t):
				t.Skip("no interface to fence a socket with here")
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

func canFence(t *testing.T) bool {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = listener.Fence(ln) // lifting it may need a privilege; the socket is closed anyway
	return err == nil
}
