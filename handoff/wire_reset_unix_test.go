//go:build unix

package handoff

import (
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A peer that closes without reading what it was sent makes the kernel
// report a reset before the messages it sent first: its last word still
// counts. A refusal queued behind the reset is a refusal; a close without
// any word is a hang-up (io.EOF), which is how a taker tells a rollback
// from the old process's death.
func TestTheLastWordBehindAResetIsHeard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		words []message
		want  error
	}{
		{name: "refused", words: []message{{Op: opError, Error: "rolled back"}}, want: ErrRefused},
		{name: "go", words: []message{{Op: opGo}}},
		{name: "nothing", want: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
			require.NoError(t, err)
			defer ln.Close()
			c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
			require.NoError(t, err)
			defer c.Close()
			peer, err := ln.AcceptUnix()
			require.NoError(t, err)
			_, err = c.Write([]byte(`{"op":"ready"}`)) // never read by the peer
			require.NoError(t, err)
			for _, m := range tc.words {
				b, _ := json.Marshal(m)
				_, err := peer.Write(b)
				require.NoError(t, err)
			}
			require.NoError(t, peer.Close())

			w := &conn{c: c, timeout: 10 * time.Second}
			_, _, err = w.recv(opGo)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}
