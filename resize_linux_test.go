package acceptgate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// A backlog resized on a live gate survives Reject and Resume, whichever way
// the socket rejects: the socket that listens again, or the one that stands
// in for it where a fence cannot be lifted, has the queue limit the socket
// had, not the one it was made with.
func TestResumeKeepsAResizedBacklog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []acceptgate.Option
		replaced bool // fenced without the privilege to lift it: Resume binds a new socket
	}{
		{name: "replaced", replaced: true},
		{name: "replaced, made with a backlog", opts: []acceptgate.Option{acceptgate.WithBacklog(100)}, replaced: true},
		{name: "stopped", replaced: false},
		{name: "stopped, made with a backlog", opts: []acceptgate.Option{acceptgate.WithBacklog(100)}, replaced: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.replaced {
				if !canFence(t) {
					t.Skip("no interface to fence with here, so no socket to replace")
				}
				withoutPrivilege(t)
			} else {
				withoutFence(t)
			}
			l := listenTCP(t, tc.opts...)
			serveEcho(t, l)
			require.NoError(t, backlog.Resize(l, 16))
			before := fdOf(t, l)

			require.NoError(t, l.Reject())
			refused(t, l.Addr())
			require.NoError(t, l.Resume())

			if tc.replaced {
				require.NotEqual(t, before, fdOf(t, l), "a new socket stands in for the fenced one")
			} else {
				require.Equal(t, before, fdOf(t, l), "the same socket listens again")
			}
			assert.Equal(t, 16, l.Stats().Backlog)
			echoes(t, l, "after Resume")
		})
	}
}
