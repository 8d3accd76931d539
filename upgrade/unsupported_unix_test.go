//go:build unix

package upgrade

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/internal/faults"
)

// Where unix sockets have no SOCK_SEQPACKET (macOS answers socketpair with
// EPROTONOSUPPORT), Upgrade fails wrapping errors.ErrUnsupported, as the
// package doc says of platforms that cannot upgrade, starts nothing, and
// this generation serves on.
func TestUpgradeWithoutSeqpacketIsUnsupported(t *testing.T) {
	g := startGeneration(t, "exit", Options{})
	require.NoError(t, g.u.Ready())
	disarm := faults.Arm(faults.Socketpair, 1, unix.EPROTONOSUPPORT)
	err := g.u.Upgrade()
	assert.Equal(t, 1, disarm(), "the socketpair was asked for once")
	require.Error(t, err)
	t.Log(err)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorIs(t, err, unix.EPROTONOSUPPORT, "the cause is kept")
	g.servesHere(t)
	select {
	case <-g.u.Exit():
		t.Fatal("Exit closed after an upgrade that could not begin")
	default:
	}
	// Nothing was left in between: the next Upgrade gets as far as the
	// next generation (which, in mode exit, ends before it takes over).
	err = g.u.Upgrade()
	require.Error(t, err)
	assert.NotErrorIs(t, err, errors.ErrUnsupported)
	assert.NotErrorIs(t, err, ErrInProgress)
}
