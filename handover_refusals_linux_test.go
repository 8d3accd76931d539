package acceptgate_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// A gate handed over while it rejects, in each way a socket refuses, goes
// on refusing on the taker once activated, and the taker's Resume makes it
// accept on the same address: the fence lifted, the socket replaced where
// the fence cannot be lifted, a stopped socket listening again, a hidden
// unix path given back.
func TestHandoffWhileRejectingEachWayThenResumeOnTheTaker(t *testing.T) {
	fence := canFence(t)
	for _, tc := range []struct {
		name   string
		reject string
		setUp  func(t *testing.T) *acceptgate.Listener
		skip   bool
	}{
		{name: "fenced", reject: handover.RejectFenced, skip: !fence, setUp: func(t *testing.T) *acceptgate.Listener {
			return listenTCP(t)
		}},
		{name: "fenced-replaced-on-resume", reject: handover.RejectFenced, skip: !fence, setUp: func(t *testing.T) *acceptgate.Listener {
			arm(t, faults.Unfence, 1, syscall.EPERM) // the taker may not lift it
			return listenTCP(t)
		}},
		{name: "stopped", reject: handover.RejectStopped, setUp: func(t *testing.T) *acceptgate.Listener {
			withoutFence(t)
			return listenTCP(t)
		}},
		{name: "fenced-wrapped", reject: handover.RejectFenced, skip: !fence || !sockets.CanLiftFence(), setUp: func(t *testing.T) *acceptgate.Listener {
			return wrapTCP(t)
		}},
		{name: "stopped-wrapped", reject: handover.RejectStopped, setUp: func(t *testing.T) *acceptgate.Listener {
			withoutFence(t)
			return wrapTCP(t)
		}},
		{name: "hidden-wrapped", reject: handover.RejectHidden, setUp: func(t *testing.T) *acceptgate.Listener {
			ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "gate.sock"))
			require.NoError(t, err)
			l := acceptgate.Wrap(ln)
			t.Cleanup(func() { l.Close() })
			return l
		}},
		{name: "hidden", reject: handover.RejectHidden, setUp: func(t *testing.T) *acceptgate.Listener {
			l, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(t.TempDir(), "gate.sock"))
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("no interface to fence with here")
			}
			old := tc.setUp(t)
			require.NoError(t, old.Reject())
			hs, files, err := side(old).Prepare()
			require.NoError(t, err)
			assert.Equal(t, tc.reject, hs.Reject)
			taken, err := adopt(t, hs, files)
			require.NoError(t, err)
			t.Cleanup(func() { taken.Close() })
			require.NoError(t, side(old).Release())
			require.NoError(t, side(taken).Activate())
			side(taken).Settle()
			assert.Equal(t, acceptgate.Rejecting, taken.State())
			refused(t, taken.Addr())

			require.NoError(t, taken.Resume())
			assert.Equal(t, acceptgate.Accepting, taken.State())
			serveEcho(t, taken)
			echoes(t, taken, "after the handoff")
		})
	}
}

// A socket stopped on its way to being replaced (its fence could not be
// lifted, the replacement could not bind and it could not listen behind
// the fence again) is not handed over: Prepare fails with an error wrapping
// errors.ErrUnsupported, and the gate goes on rejecting; its next Resume
// binds the replacement.
func TestASocketStoppedOnItsWayToBeingReplacedIsNotHandedOver(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	withoutPrivilege(t)
	l := listenTCP(t)
	require.NoError(t, l.Reject())
	disarmBind := arm(t, faults.Bind, 1, syscall.EADDRINUSE)
	disarmListen := arm(t, faults.Listen, 1, syscall.EIO)
	require.ErrorIs(t, l.Resume(), syscall.EADDRINUSE)
	disarmBind()
	disarmListen()

	_, files, err := side(l).Prepare()
	for _, f := range files {
		f.Close()
	}
	require.Error(t, err)
	assert.True(t, errors.Is(err, errors.ErrUnsupported), "%v", err)
	assert.Equal(t, acceptgate.Rejecting, l.State())
	refused(t, l.Addr())
	require.NoError(t, l.Resume())
	serveEcho(t, l)
	echoes(t, l, "replaced")
}
