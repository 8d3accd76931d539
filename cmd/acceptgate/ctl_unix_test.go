//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCtlSaysWhatToCheckWhenNothingAnswers: ctl pointed at an address where
// no admin API listens names the address, serve and --admin, and ends with
// Go's own error.
func TestCtlSaysWhatToCheckWhenNothingAnswers(t *testing.T) {
	bin := build(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, tc := range []struct {
		name, admin, goErr string
	}{
		{"a closed port", closedPort, "connection refused"},
		{"a closed port, as a URL", "http://" + closedPort, "connection refused"},
		{"a socket path with nothing there", filepath.Join(t.TempDir(), "none.sock"), "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(bin, "ctl", "--admin", tc.admin, "status").CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%s", out)
			assert.Equal(t, 1, exit.ExitCode())
			s := string(out)
			assert.Contains(t, s, "no admin API answers at "+tc.admin)
			assert.Contains(t, s, `is "acceptgate serve" (or your server) running`)
			assert.Contains(t, s, "--admin")
			assert.Regexp(t, tc.goErr+`\n$`, s, "Go's error comes last")
		})
	}
}

// TestCtlSaysWhatToCheckWhenRefused: a 401, 403 or 421 from the API comes
// with a line on what to check, after the API's own answer.
func TestCtlSaysWhatToCheckWhenRefused(t *testing.T) {
	bin := build(t)
	for _, tc := range []struct {
		status int
		check  string
	}{
		{http.StatusUnauthorized, "check the token: ctl sends the one in --token-file"},
		{http.StatusForbidden, "check the token and where ctl runs"},
		{http.StatusMisdirectedRequest, "check the Host in --admin"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			// Answers as the admin API's refusals do.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(`{"error": "refused for the test"}`))
			})}
			go srv.Serve(ln)
			defer srv.Close()
			out, err := exec.Command(bin, "ctl", "--admin", ln.Addr().String(), "pause").CombinedOutput()
			assert.Error(t, err)
			assert.Contains(t, string(out), "refused for the test", "the API's answer stays")
			assert.Contains(t, string(out), "\n"+tc.check, "on a line of its own")
			assert.NotContains(t, string(out), "no admin API answers")
		})
	}
}

// TestCtlDrainSaysWhatItDoesToARejectingGate: a drain does nothing to the
// gates until its deadline, so a rejecting gate stays rejecting through the
// grace; ctl says so rather than leave the operator expecting it to accept.
func TestCtlDrainSaysWhatItDoesToARejectingGate(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", filepath.Join(t.TempDir(), "admin.sock"))
	ctl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", srv.admin}, args...)...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		return string(out)
	}
	ctl("reject", "http")
	out := ctl("drain", "--grace", "1m")
	assert.Contains(t, out, "http: rejecting; drain leaves it rejecting: it refuses new clients during the grace too")
	assert.Contains(t, out, "draining: accepting until the deadline")
	var views []struct{ State string }
	require.NoError(t, json.Unmarshal([]byte(ctl("--json", "status")), &views))
	require.Len(t, views, 1)
	assert.Equal(t, "rejecting", views[0].State, "the drain left it rejecting")
	if conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://")); !assert.Error(t, err, "the gate refuses during the grace") {
		conn.Close()
	}

	out = ctl("drain", "--grace", "0s", "--wait", "10s")
	assert.Contains(t, out, "draining: done")
}
