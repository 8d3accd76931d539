//go:build unix

package main_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeSystemdAdminSocketLeavesRoomForTheOperator: on an admin socket
// systemd passes, as on one serve opens, clients that connect and send
// nothing, far more than it admits, do not keep the operator out: they are
// closed, the one silent longest first, to let the operator's call in.
func TestServeSystemdAdminSocketLeavesRoomForTheOperator(t *testing.T) {
	bin := build(t)
	_, adminPath, files := unitSockets(t, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `LISTEN_PID=$$ && export LISTEN_PID && exec "$0" serve --systemd "$@"`, bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "ACCEPTGATE_TOKEN") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:admin")
	cmd.ExtraFiles = files
	startCommand(t, cmd)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 150 {
		c, err := net.DialTimeout("unix", adminPath, 5*time.Second)
		require.NoError(t, err, "silent client %d", i)
		conns = append(conns, c)
	}
	transport := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", adminPath)
	}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 3 * time.Second, Transport: transport}
	resp, err := client.Get("http://admin/v1/listeners")
	require.NoError(t, err, "the operator is answered within 3 s")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
