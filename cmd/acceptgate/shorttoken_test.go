package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestServeRefusesAShortToken: serve does not start an admin API with a
// token shorter than control.MinTokenLen, from a token file or from
// $ACCEPTGATE_TOKEN, and never prints it.
func TestServeRefusesAShortToken(t *testing.T) {
	const short = "fifteen-bytes!!"
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(short+"\n"), 0o600))
	t.Setenv("ACCEPTGATE_TOKEN_FILE", "")
	os.Unsetenv("ACCEPTGATE_TOKEN_FILE")
	// Bounded, should serve start after all.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := runServe(ctx, []string{"--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grace", "1s", "--token-file", file}, io.Discard, io.Discard)
	assert.ErrorIs(t, err, control.ErrShortToken, "--token-file")
	if err != nil {
		assert.NotContains(t, err.Error(), short)
	}

	t.Setenv("ACCEPTGATE_TOKEN", short)
	err = runServe(ctx, []string{"--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grace", "1s"}, io.Discard, io.Discard)
	assert.ErrorIs(t, err, control.ErrShortToken, "$ACCEPTGATE_TOKEN")
	if err != nil {
		assert.NotContains(t, err.Error(), short)
	}
}
