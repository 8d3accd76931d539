//go:build unix

package upgrade

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A next generation that dies after it received the sockets and before
// its Ready ends the upgrade at once, not at the timeout: its end of the
// exchange closes with it. This generation serves on, and the clients that
// waited in the queue meanwhile are answered here.
func TestUpgradeEndsAtOnceWhenTheNextGenerationDiesHoldingTheSockets(t *testing.T) {
	g := startGeneration(t, "crash", Options{UpgradeTimeout: patience})
	require.NoError(t, g.u.Ready())
	l := startLoad(g.url, 2)
	start := time.Now()
	err := g.u.Upgrade()
	took := time.Since(start)
	l.End(t)
	require.Error(t, err)
	t.Logf("after %v: %v", took, err)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 4, exit.ExitCode(), "the next generation's own exit, not a kill at the timeout")
	assert.Less(t, took, patience/2, "the death ends the upgrade, not the timeout")
	g.servesHere(t)
	select {
	case <-g.u.Exit():
		t.Fatal("Exit closed after a failed upgrade")
	default:
	}
}
