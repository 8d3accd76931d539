//go:build unix

package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const patience = 20 * time.Second

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "acceptgate")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestServeAndCtlEndToEnd starts the demo server, drives it with ctl and
// plain HTTP clients, and stops it with SIGINT while a keep-alive connection
// is idle.
func TestServeAndCtlEndToEnd(t *testing.T) {
	bin := build(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--admin", admin, "--token", "t0k", "--grace", "5s")
	stdout, err := srv.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		srv.Process.Kill()
		<-exited
	}()

	lines := bufio.NewScanner(stdout)
	var url string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "acceptgate: serving "); ok {
			url = strings.Fields(rest)[0]
		}
		if strings.HasPrefix(lines.Text(), "acceptgate: admin API on ") {
			break
		}
	}
	require.NotEmpty(t, url, "serve printed its address")
	go io.Copy(io.Discard, stdout)

	ctl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", admin, "--token", "t0k"}, args...)...).CombinedOutput()
		return string(out), err
	}
	keepAlive := &http.Client{Transport: &http.Transport{}, Timeout: patience}
	defer keepAlive.CloseIdleConnections()
	get := func(c *http.Client) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get(keepAlive)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", body)

	out, err := ctl("pause", "http")
	require.NoError(t, err, out)
	assert.Contains(t, out, "paused")

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: patience}
	answered := make(chan string, 1)
	go func() {
		b, err := get(fresh)
		if err != nil {
			b = err.Error()
		}
		answered <- b
	}()
	status := func() control.View {
		out, err := exec.CommandContext(ctx, bin, "ctl", "--admin", admin, "--token", "t0k", "--json", "status", "http").Output()
		require.NoError(t, err, "%s", out)
		var vs []control.View
		require.NoError(t, json.Unmarshal([]byte(out), &vs), "%s", out)
		require.Len(t, vs, 1)
		return vs[0]
	}
	if runtime.GOOS == "linux" {
		require.Eventually(t, func() bool { return status().Queued == 1 }, patience, 5*time.Millisecond, "the new client waits in the kernel's queue")
	}
	select {
	case b := <-answered:
		t.Fatalf("answered while paused: %q", b)
	default:
	}
	ready, err := control.NewClient(admin, "")
	require.NoError(t, err)
	defer ready.CloseIdleConnections()
	isReady, err := ready.Ready(ctx)
	require.NoError(t, err, "/readyz needs no token")
	assert.False(t, isReady, "/readyz answers 503 while paused")

	out, err = ctl("pause", "nope")
	assert.Error(t, err, "an unknown gate fails")
	assert.Contains(t, out, "no listener named")
	wrong, err := exec.CommandContext(ctx, bin, "ctl", "--admin", admin, "--token", "wrong", "pause").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(wrong), "401")

	out, err = ctl("resume")
	require.NoError(t, err, out)
	select {
	case b := <-answered:
		assert.Equal(t, "hello\n", b)
	case <-time.After(patience):
		t.Fatal("queued client not served after resume")
	}
	isReady, err = ready.Ready(ctx)
	require.NoError(t, err)
	assert.True(t, isReady)

	// The keep-alive connection is idle now; SIGINT must not wait for it.
	require.NoError(t, srv.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		assert.NoError(t, err, "serve exits cleanly")
		exited <- nil
	case <-time.After(patience):
		t.Fatal("serve did not stop on SIGINT")
	}
}

func TestVersionAndHelp(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "acceptgate "))
	for _, cmd := range []string{"serve", "ctl", "handoff"} {
		out, err := exec.Command(bin, "help", cmd).CombinedOutput()
		require.NoError(t, err, cmd)
		assert.Contains(t, string(out), "Usage: acceptgate "+cmd, cmd)
	}
	out, err = exec.Command(bin, "bogus").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "unknown command")
}
