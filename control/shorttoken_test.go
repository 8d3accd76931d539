package control_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// A token of 15 bytes is one short; one of 16 is enough.
const shortToken = "fifteen-bytes!!"

// TestShortTokenIsRefused: a token shorter than MinTokenLen is refused where
// it comes in (a token file, CheckToken) and where a Handler is given one:
// ListenAdmin listens nowhere with it, and the Handler, served anyway,
// serves no call that needs the token, even with that token, rather than
// run as if it had none.
func TestShortTokenIsRefused(t *testing.T) {
	require.Len(t, shortToken, control.MinTokenLen-1)
	long := shortToken + "x"
	got, err := control.CheckToken(long)
	require.NoError(t, err, "%d bytes are enough", control.MinTokenLen)
	assert.Equal(t, long, got)
	_, err = control.CheckToken(" " + shortToken + "\n")
	assert.ErrorIs(t, err, control.ErrShortToken, "white space around it does not count")
	assert.NotContains(t, err.Error(), shortToken)

	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(shortToken+"\n"), 0o600))
	_, err = control.ReadTokenFile(path)
	assert.ErrorIs(t, err, control.ErrShortToken)
	assert.ErrorContains(t, err, path, "the error names the file")
	assert.NotContains(t, err.Error(), shortToken, "and never the token")

	var log bytes.Buffer
	h := control.NewHandler(control.WithToken(shortToken), control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	assert.Contains(t, log.String(), "level=ERROR", "NewHandler says so")
	assert.Contains(t, log.String(), "shorter than 16 bytes")
	assert.NotContains(t, log.String(), shortToken)
	g, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	require.NoError(t, h.Register("web", g))

	ctx := context.Background()
	_, err = control.ListenAdmin(ctx, "127.0.0.1:0", h, nil)
	assert.ErrorIs(t, err, control.ErrShortToken, "on TCP")
	sock := filepath.Join(t.TempDir(), "admin.sock")
	_, err = control.ListenAdmin(ctx, sock, h, nil)
	assert.ErrorIs(t, err, control.ErrShortToken, "on a unix socket")
	_, err = os.Lstat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing was made at the path")

	// Served on a listener of its own, the Handler still refuses.
	ln, err := control.ListenAdmin(ctx, "127.0.0.1:0", control.NewHandler(quiet), nil)
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	for _, auth := range []string{"Bearer " + shortToken, ""} {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/v1/pause", strings.NewReader("{}"))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "Authorization %q", auth)
	}
	assert.Equal(t, acceptgate.Accepting, g.State(), "no call was served")
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "/readyz needs no token")
	http.DefaultClient.CloseIdleConnections()
}
