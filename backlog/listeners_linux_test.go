package backlog_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

// Listeners counts the listening members of a socket's SO_REUSEPORT group:
// the sockets listening on exactly its address and port.
func TestListenersCountsTheGroupsListeningMembers(t *testing.T) {
	cfg := listener.Config{ReusePort: true}
	listen := func(address string) *net.TCPListener {
		t.Helper()
		ln, err := cfg.Listen(context.Background(), "tcp4", address)
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		return ln.(*net.TCPListener)
	}
	count := func(ln *net.TCPListener) int {
		t.Helper()
		n, err := backlog.Listeners(ln)
		require.NoError(t, err)
		return n
	}
	a := listen("127.0.0.1:0")
	assert.Equal(t, 1, count(a), "alone")
	b := listen(a.Addr().String())
	assert.Equal(t, 2, count(a))
	assert.Equal(t, 2, count(b))
	port := a.Addr().(*net.TCPAddr).Port
	wild := listen(fmt.Sprintf("0.0.0.0:%d", port)) // another group: another address
	assert.Equal(t, 1, count(wild))
	assert.Equal(t, 2, count(a))
	assert.Equal(t, 1, count(listenTCP(t)), "a socket without SO_REUSEPORT")
	require.NoError(t, sockets.StopListening(b))
	assert.Equal(t, 1, count(a), "a member that stopped listening")
	require.NoError(t, b.Close())
	assert.Equal(t, 1, count(a), "a member gone")
}
