package httpgate_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/httpgate"
)

// One server on several gates (a TCP port and a unix socket): Shutdown
// answers the clients queued behind each of them, and closes them all.
func TestShutdownAnswersTheQueuesOfSeveralGates(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }),
		ReadHeaderTimeout: patience}
	var gates []*acceptgate.Listener
	served := make(chan error, 2)
	for _, a := range [][2]string{{"tcp4", "127.0.0.1:0"}, {"unix", filepath.Join(t.TempDir(), "gate.sock")}} {
		g, err := acceptgate.Listen(context.Background(), a[0], a[1], acceptgate.WithTracking())
		require.NoError(t, err)
		gates = append(gates, g)
		go func() { served <- srv.Serve(g) }()
	}
	t.Cleanup(func() {
		srv.Close()
		for _, g := range gates {
			g.Close()
		}
	})
	var queued []net.Conn
	for _, g := range gates {
		require.NoError(t, g.Pause())
		for range 3 {
			c, err := net.DialTimeout(g.Addr().Network(), g.Addr().String(), patience)
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, request)
			require.NoError(t, err)
			queued = append(queued, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- httpgate.Shutdown(ctx, srv, gates...) }()
	for i, c := range queued {
		resp, err := answer(c, "")
		if assert.NoError(t, err, "queued client %d (%s) got no answer", i, c.RemoteAddr()) {
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		}
	}
	assert.NoError(t, <-done)
	for _, g := range gates {
		assert.Equal(t, acceptgate.Closed, g.State(), "%s", g.Addr())
		err := <-served
		assert.True(t, errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed), "Serve returned %v", err)
	}
}
