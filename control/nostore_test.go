package control_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestAuthenticatedAnswersAreNotStored: every answer behind the token, the
// routes WithHandler adds included (such as /metrics), says
// "Cache-Control: no-store", so that no browser or proxy cache keeps what
// only a holder of the token may read; even a route's handler that says
// otherwise does not change that.
func TestAuthenticatedAnswersAreNotStored(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "gate_accepted 1\n") })
	cached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "kept for an hour?\n")
	})
	h, _ := fixture(t, control.WithToken(token), control.WithHandler("/metrics", metrics), control.WithHandler("/cached", cached))
	ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", h, nil)
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	for _, tc := range []struct{ method, path string }{
		{"GET", "/metrics"},
		{"HEAD", "/metrics"},
		{"GET", "/metrics/"},
		{"GET", "/cached"},
		{"GET", "/v1/listeners"},
		{"GET", "/v1/listeners/web"},
		{"GET", "/v1/drain"},
		{"POST", "/v1/listeners/web/pause"},
		{"GET", "/"},
	} {
		req, err := http.NewRequest(tc.method, "http://"+ln.Addr().String()+tc.path, strings.NewReader(""))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s %s", tc.method, tc.path)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "%s %s", tc.method, tc.path)
	}
}
