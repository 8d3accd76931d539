package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHelpListsTheLabCommands: -help names every lab command, how to run
// it from a checkout, and none of the operator's, which are
// cmd/acceptgate's.
func TestHelpListsTheLabCommands(t *testing.T) {
	for _, arg := range []string{"-help", "--help", "help"} {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), []string{arg}, &stdout, &stderr), arg)
		out := stdout.String()
		for _, c := range []string{"backlog", "handoff", "bench", "soak", "fleet"} {
			assert.Regexp(t, `(?m)^  `+c+` +\S`, out, "%s lists %s", arg, c)
		}
		assert.Contains(t, out, "go run ./lab")
		assert.NotRegexp(t, `(?m)^  (serve|ctl) `, out, "%s: serve and ctl are cmd/acceptgate's", arg)
	}
}

// TestUnknownCommand: a name the lab does not have is an error naming it,
// with the usage on stderr, so that a typo does not pass for a run.
func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve"}, &stdout, &stderr)
	require.ErrorContains(t, err, `unknown command "serve"`)
	assert.Contains(t, stderr.String(), "Lab commands")
	assert.Empty(t, stdout.String())
}
