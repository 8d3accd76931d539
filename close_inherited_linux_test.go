package acceptgate_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// A socket the gate did not create (from net.FileListener: systemd socket
// activation, a descriptor passed by a parent) may be held by other
// processes too. Closing a rejecting gate leaves it listening for them, and
// a unix socket's path where it was.
func TestCloseWhileRejectingLeavesAnInheritedSocketListening(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		fenced  bool
	}{
		{"tcp fenced", "tcp4", true},
		{"tcp without privilege", "tcp4", false},
		{"unix", "unix", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fenced && !canFence(t) {
				t.Skip("no interface to fence with here")
			}
			if !tc.fenced {
				withoutPrivilege(t)
			}
			address := "127.0.0.1:0"
			if tc.network == "unix" {
				address = filepath.Join(t.TempDir(), "s")
			}
			other, err := net.Listen(tc.network, address) // the other holder
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			f, err := other.(interface{ File() (*os.File, error) }).File()
			require.NoError(t, err)
			inherited, err := net.FileListener(f)
			require.NoError(t, err)
			f.Close()

			l := acceptgate.Wrap(inherited, withFaults(t))
			require.NoError(t, l.Reject())
			refused(t, l.Addr())
			require.NoError(t, l.Close())

			c := dial(t, other.Addr())
			s, err := other.Accept()
			require.NoError(t, err, "the other holder still gets clients")
			s.Close()
			c.Close()
		})
	}
}

// Closing a rejecting gate over a socket others hold closes it all the same,
// and says so if it could not make the socket listen again for them.
func TestCloseSaysWhenItCannotRestoreAnInheritedSocket(t *testing.T) {
	t.Parallel()        // its faults are its own (arm), its sockets too
	withoutPrivilege(t) // not fenced: stopped, so Close must listen again
	arm(t, faults.Listen, 1, syscall.EIO)
	l := wrapTCP(t)
	require.NoError(t, l.Reject())
	err := l.Close()
	require.ErrorIs(t, err, syscall.EIO)
	assert.Contains(t, err.Error(), "other holders")
	assert.Equal(t, acceptgate.Closed, l.State())
	assert.ErrorIs(t, l.Close(), net.ErrClosed, "closed for good")
}
