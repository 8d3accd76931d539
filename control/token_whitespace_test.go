package control_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acceptgate/acceptgate/control"
)

// TestTokenWithWhiteSpaceIsRefused: WithToken takes a token by the rules
// CheckToken applies to a token file's: 15 bytes and a space are 15 bytes
// of token (the space never arrives: HTTP trims it), and white space or a
// control byte inside one is no token a header carries intact. ListenAdmin
// refuses each rather than serve an API behind a token nobody can send or
// one shorter than MinTokenLen.
func TestTokenWithWhiteSpaceIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		short       bool
	}{
		{"15 bytes and a trailing space", shortToken + " ", true},
		{"15 bytes and a newline", shortToken + "\n", true},
		{"a leading space", " " + shortToken + "x", false},
		{"tabs", "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\ta", true},
		{"a space inside", "sixteen b ytes!!", false},
		{"a control byte", "sixteen\x01bytes!!!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := control.NewHandler(control.WithToken(tc.token), quiet)
			ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", h, nil)
			if ln != nil {
				ln.Close()
			}
			assert.Error(t, err, "ListenAdmin refuses the token")
			if tc.short {
				assert.ErrorIs(t, err, control.ErrShortToken)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), tc.token, "the error never holds the token")
			}
		})
	}
}
