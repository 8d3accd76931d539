//go:build unix

package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeExposesMetrics scrapes /metrics of a running serve as Prometheus
// (or curl) would: every metric of the gate, labelled gate="http", behind
// the admin API's token; the network namespace's counters only with
// --host-counters.
func TestServeExposesMetrics(t *testing.T) {
	bin := build(t)
	for _, host := range []bool{false, true} {
		t.Run(fmt.Sprintf("host-counters=%v", host), func(t *testing.T) { testServeExposesMetrics(t, bin, host) })
	}
}

func testServeExposesMetrics(t *testing.T, bin string, hostCounters bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	const token = "metrics-test-token"
	args := []string{"--admin", "127.0.0.1:0", "--token-file", writeToken(t, token, 0o600)}
	if hostCounters {
		args = append(args, "--host-counters")
	}
	srv := startServe(t, ctx, bin, args...)
	c := &http.Client{Timeout: patience}
	defer c.CloseIdleConnections()
	scrape := func(auth string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, "GET", srv.admin+"/metrics", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, _ := scrape("")
	assert.Equal(t, http.StatusUnauthorized, status, "metrics need the token, as every route but /readyz")
	status, body := scrape("Bearer " + token)
	require.Equal(t, http.StatusOK, status, body)
	lines := []string{
		`acceptgate_accepted_connections_total{gate="http"} `,
		`acceptgate_state{gate="http",state="accepting"} 1`,
		`acceptgate_state{gate="http",state="paused"} 0`,
		`acceptgate_transitions_total{gate="http",state="rejecting"} 0`,
		`acceptgate_state_seconds_total{gate="http",state="accepting"} `,
		`acceptgate_active_connections{gate="http"} 0`,
		`acceptgate_pending_connections{gate="http"} 0`,
		`acceptgate_aborted_connections_total{gate="http"} 0`,
	}
	if runtime.GOOS == "linux" { // where the kernel tells them
		lines = append(lines,
			`acceptgate_accept_queue_length{gate="http"} 0`,
			`acceptgate_accept_queue_limit{gate="http"} `)
	}
	host := []string{"acceptgate_tcp_listen_overflows_total ", "acceptgate_tcp_listen_drops_total "}
	if hostCounters && runtime.GOOS == "linux" {
		lines = append(lines, host...)
	}
	for _, line := range lines {
		assert.Contains(t, body, "\n"+line, "%s\n%s", line, body)
	}
	if !hostCounters {
		for _, line := range host {
			assert.NotContains(t, body, "\n"+line, "only with --host-counters")
		}
	}
	assert.False(t, strings.Contains(body, "go_goroutines"), "only the gate's metrics, in a registry of their own")
}
