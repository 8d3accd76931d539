package main

// What a hostile local user or web page tries against the admin API and its
// command, and what must hold.

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEnvTokenIsCheckedLikeAFileToken: $ACCEPTGATE_TOKEN set but empty is an error, and stray white space is trimmed, as for a token file.
func TestEnvTokenIsCheckedLikeAFileToken(t *testing.T) {
	t.Setenv("ACCEPTGATE_TOKEN_FILE", "")
	for _, v := range []string{"", "s3cret-0123456789\n", " s3cret-0123456789"} {
		t.Setenv("ACCEPTGATE_TOKEN", v)
		tok, err := adminToken("")
		if err == nil {
			assert.Equal(t, "s3cret-0123456789", tok, "ACCEPTGATE_TOKEN=%q: an empty variable should be an error, and a token should be trimmed and checked as a file's is", v)
		}
	}
}

// TestTokenAfterDoubleDashIsNotEchoed: a token given after "--" is refused like any --token, and never printed.
func TestTokenAfterDoubleDashIsNotEchoed(t *testing.T) {
	err := runServe(context.Background(), []string{"--", "--token=s3cret-argv"}, io.Discard, io.Discard)
	if assert.Error(t, err) {
		assert.NotContains(t, err.Error(), "s3cret-argv", "the error repeats the token")
	}
}
