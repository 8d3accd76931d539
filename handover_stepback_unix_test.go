//go:build unix

package acceptgate_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// An adopted gate put in its state, and serving, can still step back until
// its handoff settles: released, it lets go of the socket untouched (a
// unix path stays in place), so that the old process, rolled back, serves
// it alone. Until then its transitions are refused, since the step back
// would have to undo them.
func TestAnActivatedGateStepsBackUntouchedUntilItSettles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	old, err := acceptgate.Listen(context.Background(), "unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { old.Close() })
	hs, files, err := side(old).Prepare()
	require.NoError(t, err)
	taken, err := adopt(t, hs, files)
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })
	require.NoError(t, side(taken).Activate())
	assert.Equal(t, acceptgate.Accepting, taken.State())
	ch := acceptAsync(t, taken)
	c, err := net.DialTimeout("unix", path, patience)
	require.NoError(t, err)
	c.Close()
	r := receive(t, ch)
	require.NoError(t, r.err, "the taker serves once activated")
	r.c.Close()
	assert.True(t, errors.Is(taken.Pause(), acceptgate.ErrHandoffInProgress), "a transition before the handoff settles")

	require.NoError(t, side(taken).Release())
	assert.Equal(t, acceptgate.Closed, taken.State())
	_, err = os.Lstat(path)
	require.NoError(t, err, "the path is left to the old process")
	side(old).Rollback()
	require.Equal(t, acceptgate.Accepting, old.State())
	ch = acceptAsync(t, old)
	c, err = net.DialTimeout("unix", path, patience)
	require.NoError(t, err)
	defer c.Close()
	r = receive(t, ch)
	require.NoError(t, r.err, "the old process serves the socket again")
	r.c.Close()
}

// Settled, an adopted gate is the taker's: it takes transitions, and a
// Release no longer applies to it.
func TestASettledGateIsTheTakers(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { old.Close() })
	hs, files, err := side(old).Prepare()
	require.NoError(t, err)
	taken, err := adopt(t, hs, files)
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })
	require.NoError(t, side(old).Release())
	require.NoError(t, side(taken).Activate())
	side(taken).Settle()
	require.NoError(t, taken.Pause())
	require.NoError(t, taken.Resume())
	assert.Error(t, side(taken).Release())
	assert.Equal(t, acceptgate.Accepting, taken.State())
}

// An adoption whose wrap makes no gate around the socket it was given
// fails, and leaves the socket untouched for the old process: its path
// stays, and the old gate serves again after the rollback.
func TestAdoptRefusesAWrapThatMakesNoGate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	old, err := acceptgate.Listen(context.Background(), "unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { old.Close() })
	hs, files, err := side(old).Prepare()
	require.NoError(t, err)
	var wrapped net.Listener
	_, err = handover.Adopt(hs, files, func(ln net.Listener) net.Listener {
		wrapped = ln
		return ln // not a gate
	})
	require.Error(t, err)
	require.NotNil(t, wrapped, "wrap was called")
	side(old).Rollback()
	_, err = os.Stat(path)
	require.NoError(t, err, "the path stays for the old gate")
	ch := acceptAsync(t, old)
	c, err := net.DialTimeout("unix", path, patience)
	require.NoError(t, err)
	defer c.Close()
	got := <-ch
	require.NoError(t, got.err)
	got.c.Close()
}
