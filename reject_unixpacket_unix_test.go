//go:build unix

package acceptgate_test

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A rejecting unixpacket gate refuses its clients (ECONNREFUSED), as a
// stream one does, rather than answer them with a socket of another type.
func TestRejectRefusesUnixpacketClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	ln, err := net.Listen("unixpacket", path)
	require.NoError(t, err)
	l := acceptgate.Wrap(ln)
	t.Cleanup(func() { l.Close() })
	ch := acceptAsync(t, l)
	require.NoError(t, l.Reject())
	c, err := net.DialTimeout("unixpacket", path, patience)
	if err == nil {
		c.Close()
		t.Fatal("a unixpacket client connected while rejecting")
	}
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	notYet(t, ch, "Accept while rejecting")

	require.NoError(t, l.Resume())
	assert.Equal(t, acceptgate.Accepting, l.State())
	client, err := net.DialTimeout("unixpacket", path, patience)
	require.NoError(t, err)
	defer client.Close()
	r := receive(t, ch)
	require.NoError(t, r.err)
	defer r.c.Close()
	_, err = client.Write([]byte("one message"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := r.c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "one message", string(buf[:n]))
}
