//go:build unix

package acceptgate_test

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A unixpacket gate, which Reject refuses at with a socket of its own type,
// can be handed to another process too, accepting or rejecting: the taker
// is told the socket's type, and checks that one, not a stream socket's.
func TestHandOverAUnixpacketGate(t *testing.T) {
	for _, st := range []acceptgate.State{acceptgate.Accepting, acceptgate.Rejecting} {
		t.Run(st.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gate.sock")
			ln, err := net.Listen("unixpacket", path)
			require.NoError(t, err)
			old := acceptgate.Wrap(ln)
			t.Cleanup(func() { old.Close() })
			if st == acceptgate.Rejecting {
				require.NoError(t, old.Reject())
			}
			hs, files, err := side(old).Prepare()
			require.NoError(t, err)
			taken, err := adopt(t, hs, files)
			if err != nil {
				side(old).Rollback()
				require.NoError(t, err, "the taker adopts the socket")
			}
			t.Cleanup(func() { taken.Close() })
			require.NoError(t, side(old).Release())
			require.NoError(t, side(taken).Activate())
			side(taken).Settle()
			assert.Equal(t, st, taken.State())

			if st == acceptgate.Rejecting {
				_, err := net.DialTimeout("unixpacket", path, patience)
				assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the taker refuses as the old gate did")
				require.NoError(t, taken.Resume())
			}
			ch := acceptAsync(t, taken)
			c, err := net.DialTimeout("unixpacket", path, patience)
			require.NoError(t, err)
			defer c.Close()
			r := receive(t, ch)
			require.NoError(t, r.err)
			defer r.c.Close()
			_, err = c.Write([]byte("one message"))
			require.NoError(t, err)
			buf := make([]byte, 64)
			n, err := r.c.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "one message", string(buf[:n]))
		})
	}
}
