package acceptgate_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// socketInode names the socket l gates now, to tell a socket replaced
// from one whose fence was lifted in place.
func socketInode(t *testing.T, l *acceptgate.Listener) uint64 {
	t.Helper()
	rc, err := l.SyscallConn()
	require.NoError(t, err)
	var st unix.Stat_t
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }))
	require.NoError(t, serr)
	return st.Ino
}

// TestHandoffWhileRejectingEachWayThenResumeOnTheTaker's case
// "fenced-replaced-on-resume" arms Unfence to fail so that "the taker may
// not lift" the fence, and its Resume replaces the socket. Since faults
// are per gate that arm cannot reach the taker: adopt builds the adopted
// socket from a config with no faults.Set, and the socket replaces the
// one the taker's Wrap made, so even a Set given to that Wrap is dropped.
// The taker lifts the fence in place and the case runs the "fenced" path a
// second time while its name says otherwise. This runs the same steps and
// checks the one thing the case is named for: the taker's Resume gave it
// a new socket. As an ordinary user the taker really may not lift the
// fence and this passes; with CAP_NET_RAW (root, as in CI) it fails.
func TestHandoffCaseFencedReplacedOnResumeReplaces(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	arm(t, faults.Unfence, 1, syscall.EPERM) // as the case does
	old := listenTCP(t)
	require.NoError(t, old.Reject())
	hs, files, err := side(old).Prepare()
	require.NoError(t, err)
	assert.Equal(t, handover.RejectFenced, hs.Reject)
	taken, err := adopt(t, hs, files)
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })
	require.NoError(t, side(old).Release())
	require.NoError(t, side(taken).Activate())
	side(taken).Settle()

	before := socketInode(t, taken)
	require.NoError(t, taken.Resume())
	assert.NotEqual(t, before, socketInode(t, taken),
		"the taker lifted the fence in place: the Unfence fault armed for it never reached it")
	serveEcho(t, taken)
	echoes(t, taken, "after the handoff")
}
