package acceptgate_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// State only ever reads a state the gate is in or is going to: /readyz and
// the metrics read it. Pausing and resuming an accepting gate, with a
// goroutine in Accept for each Pause to wake, never shows it rejecting.
func TestPauseAndResumeNeverReadRejecting(t *testing.T) {
	l := listenTCP(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the accept loop each Pause wakes
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer wg.Wait()
	defer l.Close()

	// The reader reads until told to stop; the Pauses go on until it has
	// seen one (on 2 busy cores it may not run during the first ones),
	// and for at most patience.
	stop := make(chan struct{})
	var sawPaused atomic.Bool
	seen := make(chan map[acceptgate.State]int, 1)
	go func() {
		counts := map[acceptgate.State]int{}
		for i := 0; ; i++ {
			if i%1024 == 0 {
				select {
				case <-stop:
					seen <- counts
					return
				default:
				}
			}
			st := l.State()
			counts[st]++
			if st == acceptgate.Paused {
				sawPaused.Store(true)
			}
		}
	}()
	deadline := time.Now().Add(patience)
	for i := 0; i < 2000 || !sawPaused.Load() && time.Now().Before(deadline); i++ {
		require.NoError(t, l.Pause())
		require.NoError(t, l.Resume())
	}
	close(stop)
	counts := <-seen
	t.Logf("states read: %v", counts)
	assert.Zero(t, counts[acceptgate.Rejecting], "reads of rejecting during Pause and Resume")
	assert.Zero(t, counts[acceptgate.Closed])
	assert.Positive(t, counts[acceptgate.Paused], "the reader ran during the Pauses")
}
