package acceptgate_test

import (
	"sync"
	"testing"

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

	stop := make(chan struct{})
	seen := make(chan map[acceptgate.State]int, 1)
	go func() {
		counts := map[acceptgate.State]int{}
		for i := 0; i < 1<<26; i++ {
			if i%1024 == 0 {
				select {
				case <-stop:
					seen <- counts
					return
				default:
				}
			}
			counts[l.State()]++
		}
		seen <- counts
	}()
	for range 2000 {
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
