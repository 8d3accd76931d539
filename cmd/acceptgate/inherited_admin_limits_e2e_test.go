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

// TestServeSystemdAdminSocketKeepsDescriptorsForTheServedPort: an admin
// socket systemd passes is bound as ListenAdmin bounds its own: with a
// limit of 96 descriptors, 150 clients of the admin socket that connect and
// stay leave the served port serving.
func TestServeSystemdAdminSocketKeepsDescriptorsForTheServedPort(t *testing.T) {
	bin := build(t)
	_, adminPath, files := unitSockets(t, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	// As activated, with the descriptor limit lowered first (hard too, so
	// that the Go runtime does not raise the soft one again).
	script := `ulimit -n 96 && LISTEN_PID=$$ && export LISTEN_PID && exec "$0" serve --systemd "$@"`
	cmd := exec.CommandContext(ctx, "sh", "-c", script, bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "ACCEPTGATE_TOKEN") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:admin")
	cmd.ExtraFiles = files
	srv := startCommand(t, cmd)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 150 {
		c, err := net.DialTimeout("unix", adminPath, 5*time.Second)
		require.NoError(t, err, "admin client %d", i)
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.url)
	require.NoError(t, err, "the served port answers while clients hold the admin socket's connections")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
