package acceptgate_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A hook may call Stats, and even a transition, while other goroutines make
// transitions; calls come in the order of the changes.
func TestStateHookMayCallBackIn(t *testing.T) {
	var (
		mu    sync.Mutex
		calls [][2]acceptgate.State
		l     *acceptgate.Listener
	)
	hook := func(from, to acceptgate.State) {
		_ = l.Stats()
		mu.Lock()
		calls = append(calls, [2]acceptgate.State{from, to})
		n := len(calls)
		mu.Unlock()
		if to == acceptgate.Paused && n%7 == 0 {
			_ = l.Resume() // reported after this call returns
		}
	}
	l = listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithStateHook(hook))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					switch (g + i) % 3 {
					case 0:
						l.Pause()
					case 1:
						l.Reject()
					default:
						l.Resume()
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("transitions deadlocked with a hook that calls back in")
	}
	require.NoError(t, l.Close())
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, calls)
	for i := 1; i < len(calls); i++ {
		require.Equal(t, calls[i-1][1], calls[i][0], "call %d does not follow call %d", i, i-1)
	}
	assert.Equal(t, acceptgate.Closed, calls[len(calls)-1][1])
}

// Active counts connections returned and not yet closed, not goroutines
// waiting in Accept.
func TestActiveCountsOnlyConnectionsHandedOut(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ch := acceptAsync(t, l)
	blockedInKernelAccept(t)
	assert.Zero(t, l.Stats().Active, "an idle accept loop")
	dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	acceptAsync(t, l)
	blockedInKernelAccept(t)
	assert.EqualValues(t, 1, l.Stats().Active, "one connection and an accept loop")
	require.NoError(t, r.c.Close())
	assert.Zero(t, l.Stats().Active)
}
