//go:build unix

package main_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adminGet sends a GET for path to the admin API at addr over a new
// connection, with auth as Authorization if not empty, and returns its
// status and the connection, left open for the caller to close.
func adminGet(t *testing.T, addr, path, auth string) (int, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(c, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		require.NoError(t, err, "the admin API answers %s", path)
	}
	resp.Body.Close()
	return resp.StatusCode, c
}

// TestServeAdminKeepsDescriptorsForTheServedPort: with a limit of 96
// descriptors, clients of the admin API without the token, hundreds of
// them that keep their connections open, refused or silent, leave the served
// port serving and the admin API answering its token.
func TestServeAdminKeepsDescriptorsForTheServedPort(t *testing.T) {
	bin := build(t)
	tokenFile := writeToken(t, "fd-t0k-long-enough", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 4*patience)
	defer cancel()
	// ulimit in the shell sets the hard limit too, which the Go runtime
	// would otherwise raise the soft one to.
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 96 && exec "$@"`, "sh",
		bin, "serve", "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--token-file", tokenFile)
	srv := startCommand(t, cmd)
	admin := strings.TrimPrefix(srv.admin, "http://")
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	served := func(when string) {
		t.Helper()
		resp, err := client.Get(srv.url)
		require.NoError(t, err, "the served port answers %s", when)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, when)
		status, c := adminGet(t, admin, "/v1/listeners", "Bearer fd-t0k-long-enough")
		c.Close()
		assert.Equal(t, http.StatusOK, status, "the admin API answers its token %s", when)
	}

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	const clients = 150 // more than the process has descriptors
	for i := range clients {
		status, c := adminGet(t, admin, "/v1/listeners", "")
		conns = append(conns, c)
		require.Equal(t, http.StatusUnauthorized, status, "refused client %d", i)
	}
	served("after refusing clients that keep their connections")

	for i := range clients {
		c, err := net.DialTimeout("tcp", admin, 5*time.Second)
		require.NoError(t, err, "silent client %d", i)
		conns = append(conns, c)
	}
	resp, err := client.Get(srv.url)
	require.NoError(t, err, "the served port answers while silent clients hold the admin API's connections")
	resp.Body.Close()
}

// TestServeAdminLogsFailedHandshakesUnderTheAuditLimit: every broken
// connection to a TLS admin API makes net/http log a handshake error; serve
// writes them through the audit's limit, not one line each.
func TestServeAdminLogsFailedHandshakesUnderTheAuditLimit(t *testing.T) {
	bin := build(t)
	certFile, keyFile := writeCert(t)
	tokenFile := writeToken(t, "tls-t0k-long-enough", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--admin-cert", certFile, "--admin-key", keyFile, "--token-file", tokenFile)
	// A file: a line is in it once the server's write returns, which is
	// before the server closes the connection that caused it.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	cmd.Stderr = stderr
	srv := startCommand(t, cmd)
	admin := strings.TrimPrefix(srv.admin, "https://")

	const broken = 300
	start := time.Now()
	for i := range broken {
		c, err := net.DialTimeout("tcp", admin, 5*time.Second)
		require.NoError(t, err)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(make([]byte, 16)) // not a TLS record
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "broken connection %d is closed", i)
		c.Close()
	}
	elapsed := time.Since(start)

	out, err := os.ReadFile(stderr.Name())
	require.NoError(t, err)
	logged := strings.Count(string(out), "TLS handshake error")
	t.Logf("%d broken connections in %v: %d handshake errors logged", broken, elapsed, logged)
	assert.Positive(t, logged, "handshake errors are logged")
	const perSecond = 10 // docs/security.md: at most 10 audit lines a second
	assert.LessOrEqual(t, logged, perSecond*(int(elapsed/time.Second)+2),
		"at most %d lines a second, as docs/security.md says, whatever the number of broken connections", perSecond)
}
