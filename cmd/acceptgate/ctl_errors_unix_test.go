//go:build unix

package main_test

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
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
