package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFleetCommand: a short run of the fleet behind HAProxy prints the
// table, with no failed request, and says where each server went; it
// fails if a request failed. CI (ACCEPTGATE_REQUIRE_HAPROXY=1) requires
// HAProxy; elsewhere the test skips without it.
func TestFleetCommand(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("ACCEPTGATE_REQUIRE_HAPROXY") == "1" {
			t.Fatalf("haproxy is not installed and ACCEPTGATE_REQUIRE_HAPROXY=1: %v", err)
		}
		t.Skip("haproxy is not installed (Debian: apt-get install haproxy)")
	}
	args := []string{"fleet", "-duration", "2s", "-clients", "4", "-upgrades", "1", "-drains", "1", "-grace", "500ms", "-show-config"}
	if bin := os.Getenv("ACCEPTGATE_BIN"); bin != "" {
		args = append(args, "-serve", bin) // built already, for a run as another user (.ci/run)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	out := stdout.String()
	t.Log(out)
	assert.Contains(t, out, "3 servers behind haproxy, 4 clients (2 with a new connection for every request, 2 kept alive)")
	assert.Contains(t, out, "steps: 3 upgrades in place, 3 drains and restarts (--grace 500ms)")
	assert.Regexp(t, `\| \d+ \| \d+ \| 0 \| 0 \| 0 \| 0 \| 0 \(haproxy: 0\) \|`, out, "requests, none failed, no 5xx")
	for _, s := range []string{"s1", "s2", "s3"} {
		// Each drain takes its server out once: HAProxy waits for it.
		assert.Regexp(t, `(?m)^\| `+s+` \| \d+(\.\d+)?m?s \| 1 \|$`, out, "%s left the pool once", s)
	}
	assert.Regexp(t, `(?m)^\| upgrade +\| 3 +\|`, out)
	assert.Regexp(t, `(?m)^\| drain +\| 3 +\|`, out)
	assert.Contains(t, out, "option httpchk GET /readyz", "-show-config prints what ran")
	assert.Contains(t, stderr.String(), "fleet: drain of s3: ")
}
