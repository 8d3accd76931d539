package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// binEnv names a directory holding the servers already built, for a run
// without the go command (as an ordinary user in CI).
const binEnv = "ACCEPTGATE_COMPARE_BIN"

// A short run of the whole comparison: every server serves under hey and
// upgrades twice; examples/upgrade and acceptgate serve answer every
// request 200. tableflip's losses are measured, not asserted.
func TestCompareRunsEveryServer(t *testing.T) {
	if _, err := exec.LookPath("hey"); err != nil {
		t.Skip("hey is not installed (Debian package hey)")
	}
	bin := os.Getenv(binEnv)
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "bin")
		require.NoError(t, build(bin))
	}
	c := config{duration: 3 * time.Second, upgrades: 2, concurrency: 4, bin: bin}
	results, err := run(c, t.Output())
	require.NoError(t, err)
	require.Len(t, results, len(servers))
	for _, r := range results {
		assert.Equal(t, 2, r.upgrades, "%s: upgrades", r.server)
		assert.Equal(t, 3, r.pids, "%s: processes", r.server)
		assert.Positive(t, r.requests-r.errors, "%s: answers", r.server)
		if r.server != "tableflip" {
			assert.Zero(t, r.non200+r.errors, "%s: requests not answered 200: %v", r.server, r.firstErr)
		}
	}
	printTable(t.Output(), c, results)
}

func TestParseHeyCountsAnswersAndErrors(t *testing.T) {
	const out = `
Summary:
  Total:	15.0011 secs
  Requests/sec:	25000.1

Response time histogram:
  0.000 [1]	|

Status code distribution:
  [200]	374990 responses
  [503]	4 responses

Error distribution:
  [20]	Get "http://127.0.0.1:8080/": EOF
  [6]	Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:5->127.0.0.1:8080: read: connection reset by peer
`
	var r result
	require.NoError(t, parseHey(out, &r))
	assert.Equal(t, 375020, r.requests)
	assert.Equal(t, 4, r.non200)
	assert.Equal(t, 26, r.errors)
	assert.Len(t, r.firstErr, 2)

	assert.Error(t, parseHey("Summary:\n", &result{}), "a summary without distributions")
}
