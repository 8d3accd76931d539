//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// startActivated runs "serve --systemd" (see activated) and waits until it
// has printed where its admin API is.
func startActivated(t *testing.T, ctx context.Context, bin string, files []*os.File, args ...string) *server {
	t.Helper()
	return startCommand(t, activated(ctx, bin, files, args...))
}

// unitSockets makes the sockets a unit would pass serve: TCP for http, and
// a unix socket of mode for admin, closed at the end of the test; files
// are their descriptors, in that order.
func unitSockets(t *testing.T, mode os.FileMode) (web net.Listener, adminPath string, files []*os.File) {
	t.Helper()
	web, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { web.Close() })
	adminPath = filepath.Join(t.TempDir(), "admin.sock")
	adminLn, err := net.Listen("unix", adminPath)
	require.NoError(t, err)
	t.Cleanup(func() { adminLn.Close() })
	require.NoError(t, os.Chmod(adminPath, mode))
	for _, l := range []interface{ File() (*os.File, error) }{web.(*net.TCPListener), adminLn.(*net.UnixListener)} {
		f, err := l.File()
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	return web, adminPath, files
}

// activated is "serve --systemd" started as systemd would: with files,
// two sockets, at descriptors 3 and 4, named http and admin. systemd sets
// LISTEN_PID in the child before exec; here sh sets it to its own id, $$,
// and execs serve, which keeps that id.
func activated(ctx context.Context, bin string, files []*os.File, args ...string) *exec.Cmd {
	return activatedAfter(ctx, "", bin, files, args...)
}

// activatedAfter is activated with the shell command before run first in
// serve's process, such as "ulimit -n 96". Neither passes on a token from
// the test's environment: serve's admin API is as the test makes it.
func activatedAfter(ctx context.Context, before, bin string, files []*os.File, args ...string) *exec.Cmd {
	script := `LISTEN_PID=$$; export LISTEN_PID; exec "$0" serve --systemd "$@"`
	if before != "" {
		script = before + " && " + script
	}
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", script, bin}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "ACCEPTGATE_TOKEN") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:admin")
	cmd.ExtraFiles = files
	return cmd
}

// TestServeSystemdDrainsAndLeavesTheSockets plays systemd for serve: it
// serves the passed sockets, tells its process, drains with a request in
// flight, and leaves both sockets listening, paths in place, when it exits.
func TestServeSystemdDrainsAndLeavesTheSockets(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	web, adminPath, files := unitSockets(t, 0o600) // SocketMode=0600

	srv := startActivated(t, ctx, bin, files, "--grace", "5s")
	assert.Equal(t, "http://"+web.Addr().String()+"/", srv.url, "serves the socket it was given")
	assert.Equal(t, adminPath, srv.admin)
	ctl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", adminPath}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := ctl("status")
	require.NoError(t, err, out)
	assert.Contains(t, out, "process "+strconv.Itoa(srv.cmd.Process.Pid)+", started ", "status names the serving process")
	out, err = ctl("--json", "status")
	require.NoError(t, err, out)
	var vs []control.View
	require.NoError(t, json.Unmarshal([]byte(out), &vs), out)
	require.Len(t, vs, 1)
	assert.Equal(t, srv.cmd.Process.Pid, vs[0].PID)
	assert.WithinDuration(t, time.Now(), vs[0].ProcessStarted, 3*patience)

	// A request the drain must let finish.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: patience}
	slow := make(chan string, 1)
	go func() {
		resp, err := client.Get(srv.url + "slow?d=3s")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	c, err := control.NewClient(adminPath, "")
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	require.Eventually(t, func() bool {
		v, err := c.Get(ctx, "http")
		return err == nil && v.Active == 1
	}, patience, 5*time.Millisecond, "the slow request is in flight")

	out, err = ctl("drain", "--grace", "0s", "--wait", patience.String())
	require.NoError(t, err, out)
	assert.Contains(t, out, "draining: done")
	select {
	case body := <-slow:
		assert.Equal(t, "slept 3s\n", body, "the request in flight finished")
	default:
		t.Fatal("drain --wait returned before the request in flight finished")
	}
	ready, err := c.Ready(ctx)
	require.NoError(t, err)
	assert.False(t, ready)
	_, err = net.DialTimeout("tcp4", web.Addr().String(), patience)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "drained: new clients refused")

	c.CloseIdleConnections()
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-srv.exited:
		require.NoError(t, err, "serve exits 0 on SIGTERM after a drain")
	case <-ctx.Done():
		t.Fatal("serve did not exit")
	}
	srv.exited <- nil // for the cleanup
	_, err = os.Stat(adminPath)
	assert.NoError(t, err, "the unit's admin socket keeps its path")
	for _, addr := range []net.Addr{web.Addr(), &net.UnixAddr{Name: adminPath, Net: "unix"}} {
		conn, err := net.DialTimeout(addr.Network(), addr.String(), patience)
		if assert.NoError(t, err, "%s listens again for the manager", addr) {
			conn.Close()
		}
	}
}

func TestServeSystemdRefusesWhatItCannotUse(t *testing.T) {
	bin := build(t)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{name: "nothing passed", args: []string{"serve", "--systemd"}, want: "no sockets passed"},
		{name: "an address too", args: []string{"serve", "--systemd", "--addr", "127.0.0.1:0"}, want: "--addr would be ignored"},
		{name: "sockets for another process", args: []string{"serve", "--systemd"}, env: []string{"LISTEN_FDS=1", "LISTEN_PID=1"}, want: "another process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "LISTEN_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "%s", out)
			assert.Contains(t, string(out), tc.want)
		})
	}
}

func TestServeSystemdRefusesAnAdminSocketOthersCanUse(t *testing.T) {
	bin := build(t)
	_, _, files := unitSockets(t, 0o666) // systemd's default SocketMode
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	out, err := activated(ctx, bin, files).CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "SocketMode=0600")
}
