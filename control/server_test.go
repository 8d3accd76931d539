package control_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// rawGet sends a GET for path over c, with auth as Authorization if not
// empty, and reads the answer.
func rawGet(t *testing.T, c net.Conn, path, auth string) *http.Response {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := io.WriteString(c, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closed c within patience: a
// read ends (EOF or a reset) rather than times out.
func closedByServer(c net.Conn, patience time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

func serveAdmin(t *testing.T, h *control.Handler, srv *http.Server, tlsConfig *tls.Config) net.Listener {
	t.Helper()
	ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", h, tlsConfig)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln
}

// TestRefusedRequestClosesItsConnection: a client refused once (401) gets
// "Connection: close" and its connection closed, even by a bare
// http.Server: a refused client must not keep a connection of the admin
// listener, which admits only so many.
func TestRefusedRequestClosesItsConnection(t *testing.T) {
	h, _ := fixture(t, control.WithToken(token))
	ln := serveAdmin(t, h, &http.Server{Handler: h}, nil)
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		resp := rawGet(t, c, "/v1/listeners", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.True(t, resp.Close, "a refusal says Connection: close")
		assert.True(t, closedByServer(c, 5*time.Second), "the server closes a refused client's connection")
	}
}

// TestAdminListenerBoundsConnectionsAndClosesUnusedOnes: ListenAdmin's
// listener admits at most WithMaxConns connections, and NewServer's server
// closes what holds them for nothing (refused clients, clients that send
// nothing, idle keep-alive ones), so that the admin API stays reachable
// with its token whatever other clients do.
func TestAdminListenerBoundsConnectionsAndClosesUnusedOnes(t *testing.T) {
	const bound = 4
	const requestTimeout, idleTimeout = 400 * time.Millisecond, 300 * time.Millisecond
	h, _ := fixture(t, control.WithToken(token), control.WithMaxConns(bound), control.WithTimeouts(requestTimeout, idleTimeout))
	srv := control.NewServer(h)
	ln := serveAdmin(t, h, srv, nil)
	gate, ok := ln.(*acceptgate.Listener)
	require.True(t, ok, "without TLS the admin listener is a gate: %T", ln)
	addr := ln.Addr().String()
	authorized := func() {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		assert.Equal(t, http.StatusOK, rawGet(t, c, "/v1/listeners", "Bearer "+token).StatusCode)
	}

	t.Run("refused clients", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 3 * bound {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			conns = append(conns, c)
			require.Equal(t, http.StatusUnauthorized, rawGet(t, c, "/v1/listeners", "").StatusCode)
		}
		authorized()
	})

	t.Run("silent clients", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range bound + 3 {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			conns = append(conns, c)
		}
		require.Eventually(t, func() bool { return gate.Stats().Active == bound }, 5*time.Second, time.Millisecond,
			"the listener admits %d of the silent clients", bound)
		assert.LessOrEqual(t, gate.Stats().Active, int64(bound), "and no more")
		for i, c := range conns {
			assert.True(t, closedByServer(c, 5*time.Second), "silent client %d is closed after the request timeout", i)
		}
		authorized()
	})

	t.Run("idle keep-alive client", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		resp := rawGet(t, c, "/v1/listeners", "Bearer "+token)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "an admitted client keeps its connection")
		assert.True(t, closedByServer(c, 5*time.Second), "an idle keep-alive connection is closed after the idle timeout")
		require.Eventually(t, func() bool { return gate.Stats().Active == 0 }, 5*time.Second, time.Millisecond)
	})
}

// TestAdminServerLogsFailedHandshakesUnderTheAuditLimit: net/http logs a
// line for every failed TLS handshake; NewServer's server sends them to the
// Handler's logger under the audit's limit, each line under 1 KB, so that a
// client opening broken connections in a loop cannot fill a disk.
func TestAdminServerLogsFailedHandshakesUnderTheAuditLimit(t *testing.T) {
	cert, _ := selfSigned(t)
	var log syncBuffer
	h, _ := fixture(t, control.WithToken(token), control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	ln := serveAdmin(t, h, control.NewServer(h), &tls.Config{Certificates: []tls.Certificate{cert}})

	const broken = 300
	start := time.Now()
	for i := range broken {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		_, err = c.Write(make([]byte, 16)) // not a TLS record
		require.NoError(t, err)
		require.True(t, closedByServer(c, 5*time.Second), "broken connection %d is closed", i)
		c.Close()
	}
	elapsed := time.Since(start)

	// The server logs a handshake's failure before it closes the
	// connection: every line is in by now.
	out := log.String()
	lines := strings.Count(out, "\n")
	logged := strings.Count(out, "TLS handshake error")
	t.Logf("%d broken connections in %v: %d lines", broken, elapsed, lines)
	assert.Positive(t, logged, "handshake errors go to the Handler's logger")
	assert.LessOrEqual(t, lines, control.AuditPerSecond*(int(elapsed/time.Second)+2),
		"at most %d lines a second, whatever the number of broken connections", control.AuditPerSecond)
	for line := range strings.Lines(out) {
		assert.Less(t, len(line), 1024, "%s", line)
	}
}
