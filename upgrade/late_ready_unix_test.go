//go:build unix

package upgrade

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A generation whose Ready comes after the previous one gave up waiting
// and serves again must not serve: Ready fails, saying the previous
// generation serves on, and leaves the sockets to it. Ready returning nil
// there would have two processes serve the same sockets, each believing
// it alone does. (Upgrade kills a next generation that is late; one that
// took over at the offer path is nobody's child.)
func TestReadyFailsWhenThePreviousGenerationServesOn(t *testing.T) {
	path := filepath.Join(shortDir(t), "upgrade.sock")
	const timeout = 200 * time.Millisecond
	old := startGeneration(t, "serve", Options{OfferPath: path, UpgradeTimeout: timeout})
	require.NoError(t, old.u.Ready())

	next, err := New(Options{TakeoverPath: path, UpgradeTimeout: timeout})
	require.NoError(t, err)
	defer next.Stop()
	g, err := next.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// The old generation hears no "accepting" and serves again.
	eventually(t, func() bool { return old.gate.State() == acceptgate.Accepting }, "the old generation to serve again")

	err = next.Ready()
	require.Error(t, err, "a late taker must not serve")
	t.Log(err)
	assert.Contains(t, err.Error(), "serves on")
	assert.Equal(t, acceptgate.Closed, g.State(), "the late taker let the sockets go")
	old.servesHere(t)
	select {
	case <-old.u.Exit():
		t.Fatal("the old generation believes it handed over")
	default:
	}
	select {
	case <-next.Exit():
	default:
		t.Fatal("the late taker's Exit is not closed")
	}
}
