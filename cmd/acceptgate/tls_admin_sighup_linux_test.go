//go:build linux

package main_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A TLS admin listener serve made has no gate to hand over: SIGHUP is
// refused, said so, and serve serves on (it does not die of SIGHUP, nor
// start a generation that could only fail to listen where it listens).
func TestServeRefusesSIGHUPWithATLSAdminListener(t *testing.T) {
	bin := build(t)
	certFile, keyFile := writeCert(t)
	tokenFile := writeToken(t, "tls-t0k-0123456789abcdef", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--admin-cert", certFile, "--admin-key", keyFile, "--token-file", tokenFile)
	cmd.Stderr = stderr
	srv := startCommand(t, cmd)
	said := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	// Ready comes a moment after the admin line: SIGHUP is caught from
	// before then, so it may come at once.
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(said(), "SIGHUP: refused, a TLS admin listener cannot be handed over")
	}, patience, 5*time.Millisecond, "serve to refuse SIGHUP")
	c := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(srv.url)
	require.NoError(t, err, "serve serves on; it said:\n%s", said())
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, said(), "started the next generation")
}
