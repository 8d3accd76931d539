//go:build unix

package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/handoff"
)

// A next generation that fails before it took over leaves this one
// serving, with systemd told READY=1 again, and Upgrade says which failure
// it was.
func TestUpgradeFailsAndThisGenerationServesOn(t *testing.T) {
	for _, tc := range []struct {
		mode  string // the next generation's (see child)
		check func(t *testing.T, err error)
	}{
		{mode: "exit", check: func(t *testing.T, err error) {
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the next generation's exit status is in the error")
			assert.Equal(t, 3, exit.ExitCode())
		}},
		{mode: "hang", check: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "it never took the sockets")
		}},
		{mode: "hold", check: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "it took the sockets and never committed")
		}},
		{mode: "refuse", check: func(t *testing.T, err error) {
			assert.ErrorIs(t, err, handoff.ErrRefused)
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			n := listenNotify(t, filepath.Join(shortDir(t), "notify"))
			t.Setenv("NOTIFY_SOCKET", n.Addr)
			g := startGeneration(t, tc.mode, Options{UpgradeTimeout: time.Second})
			require.NoError(t, g.u.Ready())
			l := startLoad(g.url, 2)
			start := time.Now()
			err := g.u.Upgrade()
			l.End(t)
			require.Error(t, err)
			t.Logf("%s: %v", tc.mode, err)
			tc.check(t, err)
			assert.Less(t, time.Since(start), patience/2, "Upgrade is bounded by the timeout")
			g.servesHere(t)
			select {
			case <-g.u.Exit():
				t.Fatal("Exit closed after a failed upgrade")
			default:
			}
			msgs := n.WaitFor(t, 3, patience)
			assert.Equal(t, "READY=1", msgs[0])
			assert.Regexp(t, `^RELOADING=1\nMONOTONIC_USEC=\d+$`, msgs[1])
			assert.Equal(t, "READY=1", msgs[2], "the upgrade ended")
			g.u.Stop()
			assert.Equal(t, "STOPPING=1", n.WaitFor(t, 4, patience)[3])
		})
	}
}

// A second Upgrade while one is under way is refused at once; the one
// under way goes on.
func TestSecondUpgradeIsRefusedAtOnce(t *testing.T) {
	n := listenNotify(t, fmt.Sprintf("@acceptgate-upgrade-%d-%d", os.Getpid(), time.Now().UnixNano()))
	t.Setenv("NOTIFY_SOCKET", n.Addr)
	g := startGeneration(t, "hang", Options{UpgradeTimeout: 2 * time.Second})
	assert.ErrorIs(t, g.u.Upgrade(), ErrNotReady)
	require.NoError(t, g.u.Ready())
	first := make(chan error, 1)
	go func() { first <- g.u.Upgrade() }()
	n.WaitFor(t, 2, patience) // RELOADING=1: under way
	start := time.Now()
	assert.ErrorIs(t, g.u.Upgrade(), ErrInProgress)
	assert.Less(t, time.Since(start), time.Second, "refused, not queued")
	assert.ErrorIs(t, <-first, context.DeadlineExceeded)
	g.servesHere(t)
	g.u.Stop()
	assert.ErrorIs(t, g.u.Upgrade(), ErrStopped)
	_, err := g.u.Listen(context.Background(), "tcp", "127.0.0.1:0")
	assert.ErrorIs(t, err, ErrStopped)
	<-g.u.Exit()
}

// Stop during an upgrade rolls it back at once: the next generation is
// killed, and this one serves until its servers are shut down.
func TestStopRollsAnUpgradeBack(t *testing.T) {
	n := listenNotify(t, filepath.Join(shortDir(t), "notify"))
	t.Setenv("NOTIFY_SOCKET", n.Addr)
	g := startGeneration(t, "hold", Options{UpgradeTimeout: patience})
	require.NoError(t, g.u.Ready())
	upgraded := make(chan error, 1)
	go func() { upgraded <- g.u.Upgrade() }()
	n.WaitFor(t, 2, patience)
	g.u.Stop()
	err := <-upgraded
	assert.ErrorIs(t, err, ErrStopped)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
	g.servesHere(t)
	assert.Equal(t, []string{"READY=1", n.All()[1], "STOPPING=1"}, n.All(), "no READY=1 after STOPPING=1")
}
