package acceptgate_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/listener"
)

// Where Resume will replace a fenced socket, the count of its handshakes
// under way is made while it rejects, off the transition lock: a Resume
// after that count found none makes no count of its own (here, a second
// count would fail), and serves its queued clients and new ones.
func TestResumeAfterTheWatchSettledMakesNoCount(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	withoutPrivilege(t)
	l := listenTCP(t)
	require.NoError(t, l.Pause())
	queued := queueClients(t, l, 2)
	failed := arm(t, faults.Handshakes, 2, syscall.EIO)
	require.NoError(t, l.Reject())
	eventually(t, func() bool { _, settled := acceptgate.SettleWatch(l); return settled }, "the watch to find no handshake under way")
	require.NoError(t, l.Resume())
	assert.Zero(t, failed(), "Resume counted the handshakes again")
	serveEcho(t, l)
	echoes(t, l, "after Resume")
	servedLines(t, queued)
}

// A watch still counting (a TCP_DEFER_ACCEPT client that has sent nothing
// is a handshake under way) ends with Close, and with a Resume, which then
// counts for itself: neither waits out the watch's bound.
func TestAWatchStillCountingEndsWithCloseAndResume(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	for _, end := range []string{"close", "resume"} {
		t.Run(end, func(t *testing.T) {
			withoutPrivilege(t)
			l := listenTCP(t, acceptgate.WithSocketConfig(listener.Config{DeferAccept: time.Minute}))
			dial(t, l.Addr()) // sends nothing: its handshake stays under way
			handshakesUnderWay(t, l, 1)
			restore := acceptgate.SetSettleTime(time.Hour) // the watch's bound
			require.NoError(t, l.Reject())
			restore()
			watching, _ := acceptgate.SettleWatch(l)
			require.True(t, watching, "no watch counting")

			restore = acceptgate.SetSettleTime(50 * time.Millisecond) // Resume's own
			defer restore()
			ended := make(chan error, 1)
			go func() {
				if end == "close" {
					ended <- l.Close()
				} else {
					ended <- l.Resume()
				}
			}()
			select {
			case err := <-ended:
				require.NoError(t, err)
			case <-time.After(patience):
				t.Fatalf("%s waited for the watch", end)
			}
			if end == "resume" {
				assert.Equal(t, acceptgate.Accepting, l.State())
			}
		})
	}
}
