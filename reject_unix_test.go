//go:build unix

package acceptgate_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// refused asserts that a dial to addr is refused at once.
func refused(t *testing.T, addr net.Addr) {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s while rejecting: connected", addr)
	}
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestRejectRefusesAtOnceAndResumeListensOnTheSameAddress(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			l := listen(t, nw.name, nw.address(t)) // port 0: the port must survive
			addr := l.Addr().String()
			ch := acceptAsync(t, l)
			if nw.name != "unix" {
				blockedInKernelAccept(t)
			}
			require.NoError(t, l.Reject())
			assert.Equal(t, acceptgate.Rejecting, l.State())
			refused(t, l.Addr())
			notYet(t, ch, "Accept while rejecting")
			require.NoError(t, l.Reject(), "a second Reject is a no-op")

			require.NoError(t, l.Resume())
			assert.Equal(t, addr, l.Addr().String())
			client := dial(t, l.Addr())
			r := receive(t, ch)
			require.NoError(t, r.err)
			defer r.c.Close()
			got, err := roundTripTo(client, r.c)
			require.NoError(t, err)
			assert.Equal(t, "pong\n", got)
		})
	}
}

// roundTripTo has client send a line that server answers.
func roundTripTo(client, server net.Conn) (string, error) {
	go func() {
		line, err := bufio.NewReader(server).ReadString('\n')
		if err == nil && line == "ping\n" {
			io.WriteString(server, "pong\n")
		}
	}()
	return roundTrip(client, "ping")
}

// TestRejectDeliversClientsAlreadyQueued queues clients with a pause, then
// rejects: every client that saw its connect succeed is served, none reset.
func TestRejectDeliversClientsAlreadyQueued(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			l := listen(t, nw.name, nw.address(t))
			require.NoError(t, l.Pause())
			const clients = 6
			conns := queueClients(t, l, clients)
			require.NoError(t, l.Reject())
			refused(t, l.Addr())
			st := l.Stats()
			assert.Equal(t, clients, st.Pending+max(st.Queued, 0), "taken out, or left in the queue of a socket that still delivers")

			for i := range clients {
				r := receive(t, acceptAsync(t, l)) // while rejecting: the queued clients only
				require.NoError(t, r.err)
				c := r.c
				line, err := bufio.NewReader(c).ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("%d\n", i), line, "delivered in the order they came")
				fmt.Fprintf(c, "served %s", line)
				c.Close()
			}
			for i, c := range conns {
				got, err := io.ReadAll(c)
				require.NoError(t, err, "client %d was reset", i)
				assert.Equal(t, fmt.Sprintf("served %d\n", i), string(got))
			}
			assert.Equal(t, 0, l.Stats().Pending)
			assert.EqualValues(t, clients, l.Stats().Accepted)
		})
	}
}

func TestPendingClientsAreServedFirstAfterResume(t *testing.T) {
	l := listenTCP(t)
	require.NoError(t, l.Pause())
	first := dial(t, l.Addr())
	eventually(t, func() bool { n, ok := kernelQueue(t, l); return !ok || n == 1 }, "client queued")
	require.NoError(t, l.Reject())
	require.NoError(t, l.Resume())
	second := dial(t, l.Addr())
	for _, want := range []net.Conn{first, second} {
		r := receive(t, acceptAsync(t, l))
		require.NoError(t, r.err)
		c := r.c
		assert.Equal(t, want.LocalAddr().String(), c.RemoteAddr().String())
		c.Close()
	}
}

// TestRejectKeepsTheDescriptorOnLinux: a socket given to Wrap may be held by
// other processes too (systemd, a parent), so Reject and Resume work on it in
// place, with or without the privilege to lift a fence. (A socket the gate
// created itself may be replaced when the fence cannot be lifted.)
func TestRejectKeepsTheDescriptorOnLinux(t *testing.T) {
	if !onLinux {
		t.Skip("the descriptor is kept on Linux only")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	l := acceptgate.Wrap(ln)
	t.Cleanup(func() { l.Close() })
	before := fdOf(t, l)
	require.NoError(t, l.Reject())
	require.NoError(t, l.Resume())
	assert.Equal(t, before, fdOf(t, l))
	dial(t, l.Addr())
}

func fdOf(t *testing.T, l *acceptgate.Listener) uintptr {
	t.Helper()
	rc, err := l.SyscallConn()
	require.NoError(t, err)
	var fd uintptr
	require.NoError(t, rc.Control(func(f uintptr) { fd = f }))
	return fd
}

// TestRejectingHoldsThePort checks that while a Linux TCP gate rejects, no
// other socket can take its port, neither by asking for it nor by asking for
// any port, so that Resume finds it free.
func TestRejectingHoldsThePort(t *testing.T) {
	if !onLinux {
		t.Skip("the port is held on Linux only")
	}
	l := listenTCP(t) // port 0: the kernel gives such a port back at shutdown
	serveEcho(t, l)
	require.NoError(t, l.Reject())

	_, err := net.Listen("tcp4", l.Addr().String())
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "the port is held while rejecting")
	port := l.Addr().(*net.TCPAddr).Port
	for range 200 {
		other, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		assert.NotEqual(t, port, other.Addr().(*net.TCPAddr).Port, "handed out to another socket")
		other.Close()
	}

	require.NoError(t, l.Resume())
	got, err := roundTrip(dial(t, l.Addr()), "back")
	require.NoError(t, err)
	assert.Equal(t, "echo: back\n", got)
}

func TestResumeReportsATakenUnixPathAndCanRetry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	l := listen(t, "unix", path)
	serveEcho(t, l)
	require.NoError(t, l.Reject())

	require.NoError(t, os.Remove(path))
	thief, err := net.Listen("unix", path)
	require.NoError(t, err)
	err = l.Resume()
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Equal(t, acceptgate.Rejecting, l.State())

	require.NoError(t, thief.Close())
	require.NoError(t, l.Resume())
	got, err := roundTrip(dial(t, l.Addr()), "back")
	require.NoError(t, err)
	assert.Equal(t, "echo: back\n", got)
}

func TestUnixRejectKeepsTheFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	l := listen(t, "unix", path)
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, l.Reject())
	fi, err := os.Stat(path)
	require.NoError(t, err, "the path stays while rejecting")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, l.Resume())
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestCloseWhileRejecting(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			l := listen(t, nw.name, nw.address(t))
			ch := acceptAsync(t, l)
			require.NoError(t, l.Reject())
			require.NoError(t, l.Close())
			assert.ErrorIs(t, receive(t, ch).err, net.ErrClosed)
			assert.ErrorIs(t, l.Resume(), net.ErrClosed)
			if ua, ok := l.Addr().(*net.UnixAddr); ok {
				_, err := os.Stat(ua.Name)
				assert.ErrorIs(t, err, os.ErrNotExist, "Close removes the socket file")
			}
		})
	}
}

func TestHTTPServerStaysUpWhileRejecting(t *testing.T) {
	l := listenTCP(t)
	url, served := httpHello(t, l)
	keepAlive, fresh := httpClients(t)
	get := func(c *http.Client) string {
		body, err := httpGet(c, url)
		require.NoError(t, err)
		return body
	}
	assert.Equal(t, "hello", get(keepAlive))
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	assert.Equal(t, "hello", get(keepAlive), "keep-alive connection while rejecting")
	notYet(t, served, "Serve while rejecting")
	require.NoError(t, l.Resume())
	assert.Equal(t, "hello", get(fresh), "a new connection after Resume")
}

func TestResumeKeepsTheBacklogAndOptions(t *testing.T) {
	if !onLinux {
		t.Skip("the backlog is read on Linux only")
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T) *acceptgate.Listener
	}{
		{"Listen", func(t *testing.T) *acceptgate.Listener {
			return listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithBacklog(7), acceptgate.WithReusePort())
		}},
		{"Wrap", func(t *testing.T) *acceptgate.Listener {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			l := acceptgate.Wrap(ln)
			t.Cleanup(func() { l.Close() })
			require.NoError(t, backlog.Resize(l, 7)) // chosen by the caller, not known to the gate
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.make(t)
			require.Equal(t, 7, l.Stats().Backlog)
			require.NoError(t, l.Reject())
			require.NoError(t, l.Resume())
			assert.Equal(t, 7, l.Stats().Backlog)
			assert.Equal(t, 0, l.Stats().Queued)
		})
	}
}

// TestPendingClientsWaitForAFreeSlot rejects with clients queued while the
// WithMaxConns limit is reached: they are delivered only as slots free up.
func TestPendingClientsWaitForAFreeSlot(t *testing.T) {
	l := listenTCP(t, acceptgate.WithMaxConns(1))
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	held := receive(t, ch)
	require.NoError(t, held.err)

	require.NoError(t, l.Pause())
	queued := queueClients(t, l, 1)
	require.NoError(t, l.Reject())
	st := l.Stats()
	require.Equal(t, 1, st.Pending+max(st.Queued, 0), "taken out, or left in the queue of a socket that still delivers")

	waiting := acceptAsync(t, l)
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return strings.Contains(stacks, "acceptgate.(*Listener).acceptSlow") || strings.Contains(stacks, "acceptgate.(*Listener).acquireSlot")
	}, "Accept waiting for a slot")
	notYet(t, waiting, "a pending client past the limit")

	require.NoError(t, held.c.Close())
	r := receive(t, waiting)
	require.NoError(t, r.err)
	defer r.c.Close()
	assert.Equal(t, queued[0].LocalAddr().String(), r.c.RemoteAddr().String())
}

// A unix socket whose path is close to the longest a socket address holds
// can still be rejected: the socket that refuses in its place is bound
// through a short name.
func TestRejectUnixSocketWithALongPath(t *testing.T) {
	dir := t.TempDir()
	if len(dir) > 90 {
		t.Skip("the temporary directory's path is too long already")
	}
	dir = filepath.Join(dir, strings.Repeat("d", 100-len(dir))) // 101 bytes
	require.NoError(t, os.Mkdir(dir, 0o700))
	l := listen(t, "unix", filepath.Join(dir, "s")) // 103 bytes, of at most 107
	serveEcho(t, l)
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	require.NoError(t, l.Resume())
	got, err := roundTrip(dial(t, l.Addr()), "long")
	require.NoError(t, err)
	assert.Equal(t, "echo: long\n", got)
}
