package listener_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/listener"
)

// systemd-socket-activate -l ADDR, and a unit without FileDescriptorName=,
// pass one socket named "unknown": it is the one a process asks for,
// whatever name it asks by. Two unnamed sockets, or a named one, are
// never guessed at.
func TestSystemdLoneUnnamedSocketAnswersAnyName(t *testing.T) {
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	lone := listen()
	got, err := listener.Sockets{{Name: listener.Unnamed, Listener: lone}}.Listener("http")
	require.NoError(t, err)
	assert.Same(t, lone, got)

	_, err = listener.Sockets{{Name: listener.Unnamed, Listener: listen()}, {Name: listener.Unnamed, Listener: listen()}}.Listener("http")
	assert.ErrorIs(t, err, listener.ErrNoSocket, "two unnamed sockets: which one is a guess")
	_, err = listener.Sockets{{Name: "admin", Listener: listen()}}.Listener("http")
	assert.ErrorIs(t, err, listener.ErrNoSocket, "a socket named for something else")
}
