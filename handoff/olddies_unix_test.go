//go:build unix

package handoff_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// The old process killed after it sent the sockets and before its go takes
// its copies with it: the taker's are the only ones left, and Commit keeps
// them and serves, rather than close the last copies of the service's
// sockets. Commit says the old process did not confirm.
func TestOldProcessKilledBeforeItsGoLeavesTheSocketsServedHere(t *testing.T) {
	path := filepath.Join(shortDir(t), "handoff.sock")
	p, addr := startOfferer(t, path)
	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, p.cmd.Process.Pid, tk.PID())
	g := tk.Listeners()["g"]
	defer g.Close()
	stopNew := serveLines(g, "new")
	defer stopNew()

	// The old process waits for this one's ready now, holding its copies.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	var ee *exec.ExitError
	require.ErrorAs(t, p.cmd.Wait(), &ee)
	require.False(t, ee.Exited(), "killed, not exited")

	err = tk.Commit(context.Background())
	require.Error(t, err, "the old process never said go")
	assert.Contains(t, err.Error(), "ended before its go")
	assert.False(t, errors.Is(err, handoff.ErrRefused), "nobody refused: %v", err)
	assert.Equal(t, acceptgate.Accepting, g.State())
	assertServedBy(t, "new", "tcp", addr)
}

// An old process that rolls back says so, so that a taker tells it from a
// death: a taker later than the offer's timeout hears the refusal queued
// for it and lets go; the old process serves on.
func TestARollbackIsSaidAndTheTakerLetsGo(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": old}, handoff.WithTimeout(time.Second))
	tk, err := handoff.Take(context.Background(), path, handoff.WithTimeout(patience))
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	eventually(t, func() bool { return old.State() == acceptgate.Accepting }, "the offer to time out and roll back")

	err = tk.Commit(context.Background())
	assert.ErrorIs(t, err, handoff.ErrRefused)
	assert.Equal(t, acceptgate.Closed, g.State(), "the taker let go")
	assertServedBy(t, "old", "tcp", old.Addr().String())
}
