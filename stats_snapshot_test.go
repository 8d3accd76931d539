package acceptgate_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/acceptgate/acceptgate"
)

// Stats is a snapshot: Active counts tracked connections Accept returned
// and not yet closed, Accepted every connection Accept returned, so with
// none closed Active can never exceed Accepted. Stats sums Accepted over
// the shards and reads Active after it, while accept loops count a
// connection in both, so a snapshot taken as clients arrive can pair an
// older Accepted with a newer Active. Nothing here is closed until the
// end, and Stats is read throughout.
func TestStatsNeverShowsMoreActiveThanAccepted(t *testing.T) {
	const clients = 2000
	l := listenTCP(t, acceptgate.WithTracking())
	var loops sync.WaitGroup
	for range 4 {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for {
				if _, err := l.Accept(); err != nil {
					return // the tracked conns are closed by Shutdown below
				}
			}
		}()
	}
	stop := make(chan struct{})
	var bad acceptgate.Stats
	var found bool
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if st := l.Stats(); uint64(st.Active) > st.Accepted {
				bad, found = st, true
				return
			}
		}
	}()
	var held []net.Conn
	for range clients {
		held = append(held, dial(t, l.Addr()))
	}
	eventually(t, func() bool { return l.Stats().Accepted == clients }, "every client accepted")
	close(stop)
	reader.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Shutdown(ctx) // closes the tracked conns the loops dropped
	loops.Wait()
	for _, c := range held {
		c.Close()
	}
	if found {
		t.Errorf("Stats showed Active %d > Accepted %d", bad.Active, bad.Accepted)
	}
}
