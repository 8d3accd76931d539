//go:build unix

package main_test

import (
	"context"
	"net"
	"net/http"
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
	// The limit is lowered before serve starts (hard too, so that the Go
	// runtime does not raise the soft one again).
	srv := startCommand(t, activatedAfter(ctx, "ulimit -n 96", bin, files))
	holdConns(t, adminPath, 150)

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.url)
	require.NoError(t, err, "the served port answers while clients hold the admin socket's connections")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestServeSystemdAdminSocketLeavesRoomForTheOperator: on an admin socket
// systemd passes, as on one serve opens, clients that connect and send
// nothing, far more than it admits, do not keep the operator out: they are
// closed, the one silent longest first, to let the operator's call in.
func TestServeSystemdAdminSocketLeavesRoomForTheOperator(t *testing.T) {
	bin := build(t)
	_, adminPath, files := unitSockets(t, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	startCommand(t, activated(ctx, bin, files))
	holdConns(t, adminPath, 150)

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

// holdConns connects n silent clients to the unix socket at path, closed
// when the test ends.
func holdConns(t *testing.T, path string, n int) {
	t.Helper()
	for i := range n {
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		require.NoError(t, err, "silent client %d", i)
		t.Cleanup(func() { c.Close() })
	}
}
