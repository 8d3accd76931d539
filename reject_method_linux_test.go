package acceptgate_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// RejectMethod says the way Reject then takes: a socket it says is fenced
// keeps listening while rejecting (its queue can be read), one it says is
// stopped does not.
func TestRejectMethodSaysWhatRejectDoes(t *testing.T) {
	fenceable := canFence(t)
	liftable := fenceable && sockets.CanLiftFence()
	for _, tc := range []struct {
		name         string
		make         func(t *testing.T) *acceptgate.Listener
		want         string
		listensAfter bool
		needsFence   bool
		needsNoLift  bool
		needsLift    bool
	}{
		{name: "fence lifted in place", make: func(t *testing.T) *acceptgate.Listener { return listenTCP(t) },
			want: "lifted in place", listensAfter: true, needsFence: true, needsLift: true},
		{name: "fence, then a new socket", make: func(t *testing.T) *acceptgate.Listener {
			arm(t, faults.Probe, 1, syscall.EPERM)
			arm(t, faults.Unfence, 1, syscall.EPERM)
			return listenTCP(t)
		}, want: "Resume replaces the socket", listensAfter: true, needsFence: true},
		{name: "a socket the gate did not create, without the privilege to lift a fence", make: func(t *testing.T) *acceptgate.Listener {
			arm(t, faults.Probe, 1, syscall.EPERM)
			return wrapTCP(t)
		}, want: "could not be lifted without CAP_NET_RAW", listensAfter: false, needsFence: true},
		{name: "a group member stops", make: func(t *testing.T) *acceptgate.Listener {
			return listenTCP(t, acceptgate.WithReusePort())
		}, want: "SO_REUSEPORT group is never fenced", listensAfter: false},
		{name: "a unix path is hidden", make: func(t *testing.T) *acceptgate.Listener {
			return listen(t, "unix", filepath.Join(t.TempDir(), "s"))
		}, want: "hidden", listensAfter: true},
		{name: "an abstract unix socket", make: func(t *testing.T) *acceptgate.Listener {
			return listen(t, "unix", "@acceptgate-method-"+filepath.Base(t.TempDir()))
		}, want: "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsFence && !fenceable {
				t.Skip("no interface to fence with here")
			}
			if tc.needsLift && !liftable {
				t.Skip("this process may not lift a fence")
			}
			l := tc.make(t)
			method := l.RejectMethod()
			assert.Contains(t, method, tc.want)
			if tc.want == "not supported" {
				assert.Error(t, l.Reject())
				return
			}
			if err := l.Reject(); !assert.NoError(t, err) {
				return
			}
			assert.Equal(t, tc.listensAfter, l.Stats().Backlog >= 0, "listening while rejecting, as %q says", method)
		})
	}
}

// Where Reject counts the handshakes under way, RejectMethod says what the
// count walks: the connection table this namespace shares with the host, or
// one of its own, as the kernel reports it.
func TestRejectMethodSaysWhatTheCountWalks(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_ehash_entries")
	if err != nil {
		t.Skip("this kernel does not say whose connection table a namespace uses (Linux 6.1+)")
	}
	if m, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req"); len(m) > 0 && m[0] == '1' {
		t.Skip("tcp_migrate_req=1 here: a group member counts nothing")
	}
	want := "this namespace's own connection table"
	if strings.HasPrefix(string(b), "-") {
		want = "shares with the host"
	}
	l := listenTCP(t, acceptgate.WithReusePort())
	assert.Contains(t, l.RejectMethod(), want)
}
