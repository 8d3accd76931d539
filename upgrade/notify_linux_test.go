package upgrade

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notify sends one datagram per state to NOTIFY_SOCKET, a path or an
// abstract name, in the order sent.
func TestNotifySendsDatagramsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{name: "path", addr: func(t *testing.T) string { return filepath.Join(shortDir(t), "notify") }},
		{name: "abstract", addr: func(t *testing.T) string {
			return fmt.Sprintf("@acceptgate-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := listenNotify(t, tc.addr(t))
			t.Setenv("NOTIFY_SOCKET", n.Addr)
			sent := []string{stateReady, stateReloading(), stateTakenOver(42), stateStopping}
			for _, s := range sent {
				require.NoError(t, notify(s))
			}
			assert.Equal(t, sent, n.WaitFor(t, len(sent), patience))
			assert.Equal(t, "MAINPID=42\nREADY=1", sent[2])
		})
	}
}

func TestNotifyWithoutNotifySocketDoesNothing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	assert.NoError(t, notify(stateReady))
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	assert.True(t, errors.Is(notify(stateReady), errors.ErrUnsupported), "only unix sockets are spoken")
}

// MONOTONIC_USEC is CLOCK_MONOTONIC, which systemd compares it with: it
// grows, and is not the wall clock.
func TestReloadingCarriesTheMonotonicClock(t *testing.T) {
	a := monotonicUsec()
	b := monotonicUsec()
	assert.Positive(t, a)
	assert.GreaterOrEqual(t, b, a)
	assert.Less(t, a, time.Now().UnixMicro()/2, "not the wall clock")
}
