package acceptgate_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// Closing a tracked connection takes none of the Listener's locks, not even
// with an Accept waiting for the slot it gives back: a handler's Close
// never waits for a transition or for whatever holds the gate's state. The
// waiting Accept then gets the slot.
func TestTrackedCloseTakesNoListenerLock(t *testing.T) {
	g := listenTCP(t, acceptgate.WithMaxConns(1))
	dial(t, g.Addr())
	r := receive(t, acceptAsync(t, g))
	require.NoError(t, r.err)
	dial(t, g.Addr())
	next := acceptAsync(t, g)
	eventually(t, func() bool { return acceptgate.SlotWaiters(g) > 0 }, "an Accept waiting for the slot")

	release := acceptgate.HoldLocks(g)
	closed := make(chan error, 1)
	go func() { closed <- r.c.Close() }()
	select {
	case err := <-closed:
		release()
		require.NoError(t, err)
	case <-time.After(patience):
		release()
		t.Fatal("a tracked connection's Close waited for the Listener's locks")
	}
	got := receive(t, next)
	require.NoError(t, got.err)
	got.c.Close()
}
