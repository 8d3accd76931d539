package backlog_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

// A client of a TCP_DEFER_ACCEPT listener that has sent nothing stays a
// request socket: connected on its side, not yet in the accept queue.
func TestHandshakesCountsClientsNotYetQueued(t *testing.T) {
	for _, address := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(address, func(t *testing.T) {
			cfg := listener.Config{DeferAccept: 5 * time.Second}
			ln, err := cfg.Listen(context.Background(), "tcp", address)
			if err != nil {
				t.Skip(err)
			}
			defer ln.Close()
			tl := ln.(*net.TCPListener)
			n, err := backlog.Handshakes(tl)
			require.NoError(t, err)
			assert.Zero(t, n)

			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			n, err = backlog.Handshakes(tl)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "connected, sent nothing: a request socket")
			q, err := backlog.Of(tl)
			require.NoError(t, err)
			assert.Zero(t, q.Len, "and not in the accept queue")

			_, err = c.Write([]byte("x"))
			require.NoError(t, err)
			require.NoError(t, tl.SetDeadline(time.Now().Add(10*time.Second)))
			s, err := tl.Accept()
			require.NoError(t, err, "its first byte completes it")
			s.Close()
			n, err = backlog.Handshakes(tl)
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}
