package acceptgate_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
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

	"github.com/acceptgate/acceptgate"
)

// The options that turn tracking on; a tracked conn must behave the same
// under each.
var trackingOptions = []struct {
	name string
	opt  acceptgate.Option
}{
	{name: "tracking", opt: acceptgate.WithTracking()},
	{name: "max-conns", opt: acceptgate.WithMaxConns(1)},
}

type (
	closeWriter interface{ CloseWrite() error }
	closeReader interface{ CloseRead() error }
	netConner   interface{ NetConn() net.Conn }
)

// optionalInterfaces names the optional interfaces c has, of those a tracked
// conn must pass on from the connection it wraps.
func optionalInterfaces(c net.Conn) []string {
	var has []string
	if _, ok := c.(closeWriter); ok {
		has = append(has, "CloseWrite")
	}
	if _, ok := c.(closeReader); ok {
		has = append(has, "CloseRead")
	}
	if _, ok := c.(io.ReaderFrom); ok {
		has = append(has, "ReadFrom")
	}
	if _, ok := c.(io.WriterTo); ok {
		has = append(has, "WriteTo")
	}
	if _, ok := c.(syscall.Conn); ok {
		has = append(has, "SyscallConn")
	}
	return has
}

// acceptClient connects a client to l and returns both ends.
func acceptClient(t *testing.T, l *acceptgate.Listener) (server, client net.Conn) {
	t.Helper()
	ch := acceptAsync(t, l)
	client = dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	t.Cleanup(func() { r.c.Close() })
	require.NoError(t, r.c.SetDeadline(time.Now().Add(patience)))
	require.NoError(t, client.SetDeadline(time.Now().Add(patience)))
	return r.c, client
}

func TestTrackedConnHasTheOptionalInterfacesOfItsConn(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		// A *net.UnixConn's ReadFrom and WriteTo are net.PacketConn's, not
		// io.ReaderFrom and io.WriterTo.
		want := []string{"CloseWrite", "CloseRead", "SyscallConn"}
		if strings.HasPrefix(nw.name, "tcp") {
			want = []string{"CloseWrite", "CloseRead", "ReadFrom", "WriteTo", "SyscallConn"}
		}
		for _, o := range trackingOptions {
			t.Run(nw.name+"/"+o.name, func(t *testing.T) {
				l := listen(t, nw.name, nw.address(t), o.opt)
				server, _ := acceptClient(t, l)
				nc, ok := server.(netConner)
				require.True(t, ok, "tracked conn %T has no NetConn", server)
				assert.Equal(t, want, optionalInterfaces(nc.NetConn()), "the inner conn, as the standard library has it")
				assert.Equal(t, want, optionalInterfaces(server), "the tracked conn")
			})
		}
	}
}

// TestTrackedConnClaimsNoInterfaceItsConnLacks wraps in-memory connections
// that have fewer optional methods than a socket: a type assertion on the
// tracked conn must fail where it fails on the conn inside.
func TestTrackedConnClaimsNoInterfaceItsConnLacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner func(net.Conn) net.Conn
		want  []string
	}{
		{name: "pipe", inner: func(c net.Conn) net.Conn { return c }, want: nil},
		{name: "tls", inner: func(c net.Conn) net.Conn { return tls.Server(c, &tls.Config{}) }, want: []string{"CloseWrite"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer client.Close()
			inner := tc.inner(server)
			l := acceptgate.Wrap(readyListener{inner}, acceptgate.WithTracking())
			defer l.Close()
			c, err := l.Accept()
			require.NoError(t, err)
			defer c.Close()
			require.Equal(t, tc.want, optionalInterfaces(inner), "precondition: the inner conn's interfaces")
			assert.Equal(t, tc.want, optionalInterfaces(c))
			nc, ok := c.(netConner)
			require.True(t, ok, "tracked conn %T has no NetConn", c)
			assert.Same(t, inner, nc.NetConn())
		})
	}
}

func TestCloseWriteHalfClosesAndKeepsTheSlot(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		for _, o := range trackingOptions {
			t.Run(nw.name+"/"+o.name, func(t *testing.T) {
				l := listen(t, nw.name, nw.address(t), o.opt)
				server, client := acceptClient(t, l)
				cw, ok := server.(closeWriter)
				require.True(t, ok, "tracked conn %T has no CloseWrite", server)

				require.NoError(t, cw.CloseWrite())
				n, err := client.Read(make([]byte, 1))
				assert.Zero(t, n)
				assert.ErrorIs(t, err, io.EOF, "the client sees the server's half-close")
				assert.EqualValues(t, 1, l.Stats().Active, "CloseWrite gives no slot back")

				_, err = io.WriteString(client, "still here\n")
				require.NoError(t, err, "the client can still write")
				line, err := bufio.NewReader(server).ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, "still here\n", line, "and the server can still read")

				require.NoError(t, server.Close())
				assert.EqualValues(t, 0, l.Stats().Active, "Close gives the slot back")
			})
		}
	}
}

// TestTrackedConnCopiesFiles copies a file into a tracked conn and what comes
// back out of it into a file with io.Copy, the path that reaches sendfile and
// splice through the conn's ReadFrom, WriteTo and SyscallConn.
func TestTrackedConnCopiesFiles(t *testing.T) {
	want := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{12}).Read(want)
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			require.NoError(t, os.WriteFile(in, want, 0o600))
			l := listen(t, nw.name, nw.address(t), acceptgate.WithTracking())
			server, client := acceptClient(t, l)

			sent := make(chan error, 1)
			go func() {
				err := sendFile(server, in)
				if err != nil {
					server.Close() // unblock the client
				}
				sent <- err
			}()
			got, err := io.ReadAll(client) // to the server's half-close
			if err != nil {
				client.Close() // unblock the sender
			}
			assert.NoError(t, <-sent)
			require.NoError(t, err)
			require.Len(t, got, len(want))
			assert.True(t, bytes.Equal(want, got), "the client got what the file holds")

			echoed := make(chan error, 1)
			go func() {
				_, err := client.Write(got)
				if err == nil {
					err = client.(closeWriter).CloseWrite()
				}
				echoed <- err
			}()
			err = receiveFile(out, server)
			if err != nil {
				server.Close() // unblock the client
			}
			assert.NoError(t, <-echoed)
			require.NoError(t, err)
			back, err := os.ReadFile(out)
			require.NoError(t, err)
			require.Len(t, back, len(want))
			assert.True(t, bytes.Equal(want, back), "the server got back what it sent")
		})
	}
}

// sendFile copies the file at path into c with io.Copy, then half-closes c.
func sendFile(c net.Conn, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(c, f); err != nil {
		return err
	}
	cw, ok := c.(closeWriter)
	if !ok {
		return fmt.Errorf("%T has no CloseWrite", c)
	}
	return cw.CloseWrite()
}

// receiveFile copies what c reads, up to EOF, into a new file at path.
func receiveFile(path string, c net.Conn) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestHTTPServerHalfClosesTrackedConns sends a request whose body the handler
// does not read. net/http answers, half-closes the connection with CloseWrite,
// waits a moment (its rstAvoidanceDelay) and closes it with the body unread,
// which resets it. A client reading to EOF must get the whole response and
// the half-close first; without CloseWrite it gets the reset.
func TestHTTPServerHalfClosesTrackedConns(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	l := acceptgate.Wrap(inner, acceptgate.WithTracking())
	closed := make(chan struct{})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "hello")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				close(closed) // there is one connection
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		require.NoError(t, srv.Close())
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	}()
	client := dial(t, l.Addr())
	require.NoError(t, client.SetDeadline(time.Now().Add(patience)))

	// More than the 256 KiB net/http reads of what a handler left, so that
	// it gives up on the connection; a part of it that fits the socket
	// buffers, so that the client is not blocked writing.
	const bodyLen = 1 << 20
	_, err = fmt.Fprintf(client, "POST / HTTP/1.1\r\nHost: gate\r\nContent-Length: %d\r\n\r\n", bodyLen)
	require.NoError(t, err)
	_, err = client.Write(make([]byte, 64<<10))
	require.NoError(t, err)

	resp, err := io.ReadAll(client)
	require.NoError(t, err, "the client reads the response and the half-close, not a reset")
	assert.True(t, strings.HasPrefix(string(resp), "HTTP/1.1 200 OK\r\n"), "response: %q", resp)
	assert.True(t, strings.HasSuffix(string(resp), "\r\n\r\nhello"), "response: %q", resp)
	select {
	case <-closed:
	case <-time.After(patience):
		t.Fatal("the server did not close the connection")
	}
}

func TestTrackedTCPConnIsOneAllocation(t *testing.T) {
	server, _ := acceptClient(t, listenTCP(t))
	require.IsType(t, &net.TCPConn{}, server)
	l := acceptgate.Wrap(readyListener{server}, acceptgate.WithTracking())
	defer l.Close()
	var c net.Conn
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if c, err = l.Accept(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Equal(t, 1.0, allocs)
	assert.Equal(t, optionalInterfaces(server), optionalInterfaces(c))
}
