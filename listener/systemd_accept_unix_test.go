//go:build unix

package listener_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// An Accept=yes connection is handed over as a file whatever its client did
// meanwhile: reset or closed, the kernel no longer names its peer, and yet
// it is no stopped listener to make listen again. The other sockets are
// served as ever.
func TestSystemdHandsAnEndedConnectionOverAsAFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, client, server net.Conn)
	}{
		{name: "client reset", end: func(t *testing.T, client, _ net.Conn) {
			require.NoError(t, client.(*net.TCPConn).SetLinger(0))
			require.NoError(t, client.Close())
		}},
		{name: "both closed", end: func(t *testing.T, client, server net.Conn) {
			require.NoError(t, server.(*net.TCPConn).CloseWrite())
			client.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := client.Read(make([]byte, 1))
			require.ErrorIs(t, err, io.EOF)
			require.NoError(t, client.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The manager's Accept=yes listener: it stays open here, as
			// systemd keeps it, holding its port.
			acc, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer acc.Close()
			client, err := net.Dial("tcp4", acc.Addr().String())
			require.NoError(t, err)
			defer client.Close()
			server, err := acc.Accept()
			require.NoError(t, err)
			defer server.Close()
			conn, err := server.(*net.TCPConn).File()
			require.NoError(t, err)
			defer conn.Close()
			tc.end(t, client, server)
			waitReadable(t, conn)

			tcp, unixLn := httpAndAdmin(t)
			c := startChild(t, []*os.File{conn, fileOf(t, tcp), fileOf(t, unixLn)},
				"LISTEN_FDS=3", "LISTEN_FDNAMES=connection:http:admin", setPIDEnv+"=1", askEnv+"=connection")
			c.started()
			assert.Equal(t, "socket 0 connection listener=false file=true", c.next(), "a connection is a file")
			assert.Equal(t, "socket 1 http listener=true file=false", c.next())
			assert.Equal(t, "socket 2 admin listener=true file=false", c.next())
			c.next() // dns
			assert.Equal(t, "ask connection: no socket true, address in use false: listener: inherited socket \"connection\" does not listen for stream connections: no inherited listening socket by that name", c.next())
			require.Equal(t, "ready", c.next())
			assertServes(t, tcp.Addr().String())
		})
	}
}

// A stopped socket that cannot listen again, because another took its
// port meanwhile, is handed over as a file, and Listener says why; the
// other inherited sockets are not closed for it, and serve.
func TestSystemdKeepsTheOthersWhenAStoppedSocketCannotListenAgain(t *testing.T) {
	stopped, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer stopped.Close()
	f := fileOf(t, stopped)
	require.NoError(t, syscall.Shutdown(int(f.Fd()), syscall.SHUT_RD), "stop it as a gate's Reject does")
	// Bound to port 0, it gave its port back when it stopped; take it.
	thief, err := net.Listen("tcp4", stopped.Addr().String())
	require.NoError(t, err)
	defer thief.Close()

	tcp, unixLn := httpAndAdmin(t)
	c := startChild(t, []*os.File{f, fileOf(t, tcp), fileOf(t, unixLn)},
		"LISTEN_FDS=3", "LISTEN_FDNAMES=old:http:admin", setPIDEnv+"=1", askEnv+"=old")
	c.started()
	assert.Equal(t, "socket 0 old listener=false file=true", c.next())
	assert.Equal(t, "socket 1 http listener=true file=false", c.next())
	assert.Equal(t, "socket 2 admin listener=true file=false", c.next())
	c.next() // dns
	ask := c.next()
	assert.True(t, strings.HasPrefix(ask, "ask old: no socket true, address in use true: "), ask)
	assert.Contains(t, ask, "cannot listen again")
	require.Equal(t, "ready", c.next())
	assertServes(t, tcp.Addr().String())
}

// httpAndAdmin makes the two listening sockets the child serves: "http"
// on TCP and "admin" on a unix socket, closed after the test.
func httpAndAdmin(t *testing.T) (tcp, admin net.Listener) {
	t.Helper()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { tcp.Close() })
	admin, err = net.Listen("unix", filepath.Join(t.TempDir(), "admin.sock"))
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	return tcp, admin
}

// fileOf returns a duplicate of s's descriptor, closed after the test.
func fileOf(t *testing.T, s any) *os.File {
	t.Helper()
	f, err := s.(interface{ File() (*os.File, error) }).File()
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// waitReadable waits until f has something to read: here, the end its
// client left.
func waitReadable(t *testing.T, f *os.File) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := unix.Poll(pfd, 100); err == nil && n > 0 {
			return
		}
	}
	t.Fatal("the connection's end never showed")
}

func assertServes(t *testing.T, addr string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// started checks the child's first line: Systemd returned sockets.
func (c *child) started() {
	c.t.Helper()
	said := c.next()
	require.True(c.t, strings.HasPrefix(said, "env "), "the child said %q", said)
}
