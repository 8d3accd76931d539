package acceptgate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A Shutdown that returns nil has waited for every connection Accept hands
// out, also one an Accept was delivering from the pending ones as the
// Listener closed (taken off the list before Close, counted open after).
// Handlers here never close what they get: a nil Shutdown with a
// connection delivered is the bug.
func TestShutdownDoesNotMissAPendingBeingDelivered(t *testing.T) {
	for i := range 30 {
		g := listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithReusePort(), acceptgate.WithTracking())
		require.NoError(t, g.Pause())
		queueClients(t, g, 8)
		require.NoError(t, g.Reject())
		var got sync.WaitGroup
		var mu sync.Mutex
		delivered := 0
		start := make(chan struct{})
		for range 8 {
			got.Add(1)
			go func() {
				defer got.Done()
				<-start
				for {
					c, err := g.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					delivered++
					mu.Unlock()
					t.Cleanup(func() { c.Close() })
				}
			}()
		}
		close(start)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := g.Shutdown(ctx)
		cancel()
		got.Wait()
		if err == nil && delivered > 0 {
			t.Fatalf("round %d: Shutdown returned nil, yet Accept delivered %d connections it did not wait for", i, delivered)
		}
	}
}
