package acceptgate_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// BenchmarkRejectDeliversAsItTakes measures, for a Reject that stops its
// socket with 1,024 clients queued, the time from the call to the first
// client Accept returns (first-ms) and to the call's return (reject-ms):
// the first should not wait for the last to be taken out.
func BenchmarkRejectDeliversAsItTakes(b *testing.B) {
	const queued = 1024
	var first, whole time.Duration
	for range b.N {
		b.StopTimer()
		g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0",
			acceptgate.WithReusePort(), acceptgate.WithBacklog(2*queued))
		require.NoError(b, err)
		require.NoError(b, g.Pause())
		clients := make([]net.Conn, 0, queued)
		for range queued {
			c, err := net.DialTimeout("tcp4", g.Addr().String(), patience)
			require.NoError(b, err)
			clients = append(clients, c)
		}
		deadline := time.Now().Add(patience)
		for {
			q, err := backlog.Of(g)
			require.NoError(b, err)
			if q.Len == queued {
				break
			}
			require.True(b, time.Now().Before(deadline), "clients queued")
			time.Sleep(time.Millisecond) // polling interval, not synchronisation
		}
		b.StartTimer()
		start := time.Now()
		rejected := make(chan time.Duration, 1)
		go func() {
			err := g.Reject()
			rejected <- time.Since(start)
			require.NoError(b, err)
		}()
		c, err := g.Accept()
		first += time.Since(start)
		require.NoError(b, err)
		whole += <-rejected
		b.StopTimer()
		c.Close()
		for range queued - 1 {
			c, err := g.Accept()
			require.NoError(b, err)
			c.Close()
		}
		g.Close()
		for _, c := range clients {
			c.Close()
		}
	}
	b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "first-ms")
	b.ReportMetric(float64(whole.Microseconds())/1000/float64(b.N), "reject-ms")
}
