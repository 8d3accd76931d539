package control_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// adminRig is an admin API served by NewServer on ListenAdmin's listener,
// and an operator's client for it.
type adminRig struct {
	network, addr string
	gate          *acceptgate.Listener // nil under TLS
	operator      *http.Client
	url           string
}

func newAdminRig(t *testing.T, network string, srvOf func(*control.Handler) *http.Server, opts ...control.Option) *adminRig {
	t.Helper()
	h := control.NewHandler(append([]control.Option{control.WithToken(token), quiet}, opts...)...)
	addr, scheme := "127.0.0.1:0", "http"
	var tlsConfig *tls.Config
	transport := &http.Transport{DisableKeepAlives: true}
	switch network {
	case "unix":
		if runtime.GOOS == "windows" {
			t.Skip("no unix admin sockets here")
		}
		dir, err := os.MkdirTemp("", "ag") // short: a socket path has ~100 bytes
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "admin.sock")
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}
	case "tls":
		cert, pool := selfSigned(t)
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
		scheme = "https"
	}
	ln, err := control.ListenAdmin(context.Background(), addr, h, tlsConfig)
	require.NoError(t, err)
	srv := srvOf(h)
	srv.ErrorLog = log.New(io.Discard, "", 0) // handshakes of clients shed before theirs
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	r := &adminRig{network: "tcp", addr: ln.Addr().String(), operator: &http.Client{Timeout: 3 * time.Second, Transport: transport}}
	r.gate, _ = ln.(*acceptgate.Listener)
	r.url = scheme + "://" + r.addr + "/v1/listeners"
	if network == "unix" {
		r.network, r.url = "unix", "http://admin/v1/listeners"
	}
	t.Cleanup(transport.CloseIdleConnections)
	return r
}

// call is the operator's call, with the token, on a new connection.
func (r *adminRig) call() error {
	req, err := http.NewRequest("GET", r.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.operator.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func (r *adminRig) dial() (net.Conn, error) {
	return net.DialTimeout(r.network, r.addr, 5*time.Second)
}

// TestSilentClientsLeaveRoomForTheOperator: clients without the token that
// connect and send nothing, more than the listener admits, must not keep an
// operator with the token out: when a client takes the last slot, NewServer's
// server closes the one silent longest, so the gate accepts the clients
// queued in the kernel one after another until the operator's, whose request
// is in at once. Without that (as before issue 19), the silent ones
// held every slot for the request timeout (10 s), and the operator waited
// behind them in the kernel's queue. The listener's bound holds meanwhile.
func TestSilentClientsLeaveRoomForTheOperator(t *testing.T) {
	for _, network := range []string{"tcp", "tls", "unix"} {
		t.Run(network, func(t *testing.T) {
			r := newAdminRig(t, network, control.NewServer)
			for range control.DefaultMaxConns + 8 {
				c, err := r.dial()
				require.NoError(t, err)
				defer c.Close()
			}
			require.NoError(t, r.call(), "the operator is answered within 3 s")
			if r.gate != nil {
				assert.LessOrEqual(t, r.gate.Stats().Active, int64(control.DefaultMaxConns), "the bound holds")
			}
		})
	}
}

// TestReconnectingSilentClientsCannotKeepTheOperatorOut: clients that
// connect, send nothing and connect again the moment they are closed, as
// fast as they can, do not keep the operator out either, and the
// listener's bound holds throughout.
func TestReconnectingSilentClientsCannotKeepTheOperatorOut(t *testing.T) {
	for _, network := range []string{"tcp", "tls", "unix"} {
		t.Run(network, func(t *testing.T) {
			const bound, hostile = 8, 16
			r := newAdminRig(t, network, control.NewServer, control.WithMaxConns(bound))
			h := newHostiles(r)
			for range hostile {
				h.wg.Go(h.loop)
			}
			defer h.stop()
			require.Eventually(t, func() bool { return h.connected.Load() >= hostile }, 5*time.Second, time.Millisecond,
				"the hostile clients are connected")
			for i := range 3 {
				require.NoError(t, r.call(), "operator call %d is answered within 3 s", i)
				if r.gate != nil {
					assert.LessOrEqual(t, r.gate.Stats().Active, int64(bound), "the bound holds")
				}
			}
			assert.GreaterOrEqual(t, h.shed.Load(), int64(hostile), "the hostile clients were closed and connected again")
		})
	}
}

// hostiles are silent clients that connect again each time the server
// closes them, for at most 5 s and 2000 connections each.
type hostiles struct {
	r               *adminRig
	deadline        time.Time
	wg              sync.WaitGroup
	connected, shed atomic.Int64

	mu      sync.Mutex
	stopped bool
	conns   map[net.Conn]bool
}

func newHostiles(r *adminRig) *hostiles {
	return &hostiles{r: r, deadline: time.Now().Add(5 * time.Second), conns: make(map[net.Conn]bool)}
}

func (h *hostiles) loop() {
	for range 2000 {
		c, err := h.r.dial()
		if err != nil {
			if time.Now().After(h.deadline) {
				return
			}
			continue
		}
		if !h.hold(c) {
			return
		}
		h.connected.Add(1)
		if closedByServer(c, time.Until(h.deadline)) && time.Now().Before(h.deadline) {
			h.shed.Add(1)
		}
		h.mu.Lock()
		delete(h.conns, c)
		stopped := h.stopped
		h.mu.Unlock()
		c.Close()
		if stopped || time.Now().After(h.deadline) {
			return
		}
	}
}

// hold keeps c for stop to wake, unless stop came first.
func (h *hostiles) hold(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		c.Close()
		return false
	}
	h.conns[c] = true
	return true
}

// stop wakes every hostile client and waits for them to end.
func (h *hostiles) stop() {
	h.mu.Lock()
	h.stopped = true
	for c := range h.conns {
		c.SetReadDeadline(time.Now())
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// TestBareServerKeepsThePlainBound: a bare http.Server has no ConnState
// hook to tell silent connections from busy ones, so nothing is closed for
// a newcomer: the listener admits its bound and the others wait in the
// kernel's queue.
func TestBareServerKeepsThePlainBound(t *testing.T) {
	const bound = 4
	r := newAdminRig(t, "tcp", func(h *control.Handler) *http.Server { return &http.Server{Handler: h} }, control.WithMaxConns(bound))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range bound + 2 {
		c, err := r.dial()
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return r.gate.Stats().Active == bound }, 5*time.Second, time.Millisecond)
	for i, c := range conns[:bound] {
		assert.False(t, closedByServer(c, 300*time.Millisecond), "silent client %d keeps its connection", i)
	}
	assert.Equal(t, int64(bound), r.gate.Stats().Active)
}

// TestSheddingSparesARequestBeingServed: only silent connections are
// closed for newcomers; one whose request is being served, however long
// it takes, gets its answer while silent clients flood the listener.
func TestSheddingSparesARequestBeingServed(t *testing.T) {
	const bound = 4
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	r := newAdminRig(t, "tcp", control.NewServer, control.WithMaxConns(bound), control.WithHandler("/slow", slow))
	r.url = "http://" + r.addr + "/slow"
	answered := make(chan error, 1)
	go func() { answered <- r.call() }()
	<-entered
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 * bound {
		c, err := r.dial()
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// Silent clients are closed to make room, the oldest first.
	for i, c := range conns[:len(conns)-bound] {
		require.True(t, closedByServer(c, 5*time.Second), "silent client %d is closed", i)
	}
	close(release)
	assert.NoError(t, <-answered, "the slow request is answered")
}

// TestIdleKeepAliveConnectionsMakeRoom: a keep-alive connection idle
// between requests counts as silent: while the listener is full it is
// closed for a newcomer long before the idle timeout.
func TestIdleKeepAliveConnectionsMakeRoom(t *testing.T) {
	const bound = 4
	r := newAdminRig(t, "tcp", control.NewServer, control.WithMaxConns(bound))
	idle, err := r.dial()
	require.NoError(t, err)
	defer idle.Close()
	resp := rawGet(t, idle, "/v1/listeners", "Bearer "+token)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the connection is kept alive")
	// More than it takes to shed it whenever the server marks it idle,
	// which may be after the answer reached the client.
	for range 3 * bound {
		c, err := r.dial()
		require.NoError(t, err)
		defer c.Close()
	}
	assert.True(t, closedByServer(idle, 5*time.Second), "the idle connection is closed within 5 s, the idle timeout being 30 s")
	require.NoError(t, r.call(), "the operator is answered")
}

// TestShedConnectionsAreLogged: each connection closed to make room is
// logged, with its client's address, under the audit's rate limit, so that
// an operator sees the flood.
func TestShedConnectionsAreLogged(t *testing.T) {
	const bound = 2
	var logged syncBuffer
	r := newAdminRig(t, "tcp", control.NewServer, control.WithMaxConns(bound),
		control.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	first, err := r.dial()
	require.NoError(t, err)
	defer first.Close()
	for range bound {
		c, err := r.dial()
		require.NoError(t, err)
		defer c.Close()
	}
	require.True(t, closedByServer(first, 5*time.Second), "the first silent client is closed")
	require.Eventually(t, func() bool {
		return strings.Contains(logged.String(), "closed a silent connection") &&
			strings.Contains(logged.String(), "remote="+first.LocalAddr().String())
	}, 5*time.Second, time.Millisecond, "its closing is logged with its address: %s", logged.String())
}
