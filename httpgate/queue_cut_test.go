package httpgate_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/httpgate"
)

// A context that ends while clients still wait in a gate's accept queue
// (here nobody serves the gate yet, as when a server is told to stop while
// it starts) cuts them off: closing the gate refuses them. Shutdown says
// so with a *ForcedCloseError wrapping ctx.Err(), not with nil, which
// promises that every client whose connect succeeded got its answer.
func TestShutdownSaysSoWhenItsContextCutsTheQueue(t *testing.T) {
	for _, network := range []string{"tcp4", "unix"} {
		t.Run(network, func(t *testing.T) {
			address := "127.0.0.1:0"
			if network == "unix" {
				address = filepath.Join(t.TempDir(), "gate.sock")
			}
			gate, err := acceptgate.Listen(context.Background(), network, address, acceptgate.WithTracking())
			require.NoError(t, err)
			defer gate.Close()
			srv := &http.Server{ReadHeaderTimeout: patience} // not serving gate yet
			addr := gate.Addr()
			c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, request)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = httpgate.Shutdown(ctx, srv, gate)
			_, answerErr := answer(c, "")
			require.Error(t, answerErr, "nobody served the queued client")
			var forced *acceptgate.ForcedCloseError
			require.ErrorAs(t, err, &forced, "the queued client was cut off (%v), yet Shutdown returned %v", answerErr, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, acceptgate.Closed, gate.State())
		})
	}
	t.Run("nothing-queued", func(t *testing.T) {
		// An ended context that cut nobody off is no forced close.
		s := serve(t, "tcp4", nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.NoError(t, httpgate.Shutdown(ctx, s.srv, s.gate))
	})
}
