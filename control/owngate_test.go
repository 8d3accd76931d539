package control_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// appMux is an application's own mux with the admin API mounted in it, as
// a new user's first instinct has it: the mistake these tests are about.
func appMux(h *control.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	return mux
}

// serveThrough serves handler with a real http.Server on ln until the test
// ends.
func serveThrough(t *testing.T, ln net.Listener, handler http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: handler}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

// adminOnItsOwn serves h on a listener of its own, as the README says
// to, and returns a Client for it.
func adminOnItsOwn(t *testing.T, h *control.Handler) *control.Client {
	t.Helper()
	ln := serveAdmin(t, h, control.NewServer(h), nil)
	c, err := control.NewClient(ln.Addr().String(), "")
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// freshClient opens a new connection for every request, so that each goes
// through the gate's Accept; dial, if not nil, replaces TCP's.
func freshClient(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: dial}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// send makes a request and returns its status and, for an error answer,
// the API's error text.
func send(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct{ Error string }
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode >= 400 {
		require.NoError(t, json.Unmarshal(body, &e), "an error answer is JSON: %s", body)
	}
	return resp.StatusCode, e.Error
}

// gateAt is a gate the test closes at its end; on a host without IPv6, a
// test that asks for an IPv6 one is skipped.
func gateAt(t *testing.T, network, addr string) *acceptgate.Listener {
	t.Helper()
	g, err := acceptgate.Listen(context.Background(), network, addr)
	if err != nil && strings.Contains(addr, ":") && strings.Contains(addr, "[") {
		t.Skipf("no IPv6 here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	return g
}

// TestAdminThroughOwnGateRefusesToStopIt: an admin API served through the
// gate it controls answers a pause, reject or drain of that gate, one by one
// or all at once, with 409 naming the gate and the way out, and changes
// nothing: the gate goes on accepting. The same Handler on a listener of its
// own does what was asked.
func TestAdminThroughOwnGateRefusesToStopIt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		path   string
		viaOwn func(c *control.Client) error // the same change on the admin's own listener
		want   acceptgate.State              // of web and, for "all", other, after viaOwn
		all    bool
	}{
		{name: "pause one", path: "/v1/listeners/web/pause", want: acceptgate.Paused,
			viaOwn: func(c *control.Client) error { _, err := c.Change(ctx, "pause", "web"); return err }},
		{name: "reject one", path: "/v1/listeners/web/reject", want: acceptgate.Rejecting,
			viaOwn: func(c *control.Client) error { _, err := c.Change(ctx, "reject", "web"); return err }},
		{name: "pause all", path: "/v1/pause", want: acceptgate.Paused, all: true,
			viaOwn: func(c *control.Client) error { _, err := c.Change(ctx, "pause", ""); return err }},
		{name: "reject all", path: "/v1/reject", want: acceptgate.Rejecting, all: true,
			viaOwn: func(c *control.Client) error { _, err := c.Change(ctx, "reject", ""); return err }},
		{name: "drain", path: "/v1/drain?grace=0s", want: acceptgate.Rejecting, all: true,
			viaOwn: func(c *control.Client) error { _, err := c.Drain(ctx, 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := gateAt(t, "tcp4", "127.0.0.1:0")
			other := gateAt(t, "tcp4", "127.0.0.1:0")
			h := control.NewHandler(quiet)
			require.NoError(t, h.Register("web", web))
			require.NoError(t, h.Register("other", other))
			serveThrough(t, web, appMux(h))
			own := adminOnItsOwn(t, h)
			through := freshClient(t, nil)
			app := "http://" + web.Addr().String()

			status, msg := send(t, through, http.MethodPost, app+"/admin"+tc.path)
			assert.Equal(t, http.StatusConflict, status)
			assert.Contains(t, msg, fmt.Sprintf("listener %q (%s)", "web", web.Addr()), "names the gate")
			assert.Contains(t, msg, "control.ListenAdmin", "says where the API belongs")
			assert.Contains(t, msg, "nothing was changed")
			assert.NotContains(t, msg, `"other"`, "only the gate the request came through")
			assert.Equal(t, acceptgate.Accepting, web.State())
			assert.Equal(t, acceptgate.Accepting, other.State(), "nothing changed, not even on the other gate")
			assert.False(t, h.DrainStatus().Draining)
			status, _ = send(t, through, http.MethodGet, app+"/")
			assert.Equal(t, http.StatusOK, status, "a new client is still served through the gate")

			require.NoError(t, tc.viaOwn(own), "on its own listener the API changes the gate")
			require.Eventually(t, func() bool { return web.State() == tc.want }, 10*time.Second, time.Millisecond)
			if tc.all {
				require.Eventually(t, func() bool { return other.State() == tc.want }, 10*time.Second, time.Millisecond)
			}
		})
	}
}

// TestAdminThroughOwnGateServesResume: a connection kept alive through the
// gate from before a pause or reject still gets its resume served, while a
// second stop on it is refused.
func TestAdminThroughOwnGateServesResume(t *testing.T) {
	for _, stop := range []string{"pause", "reject"} {
		t.Run(stop, func(t *testing.T) {
			web := gateAt(t, "tcp4", "127.0.0.1:0")
			h := control.NewHandler(quiet)
			require.NoError(t, h.Register("web", web))
			serveThrough(t, web, appMux(h))
			own := adminOnItsOwn(t, h)

			conn, err := net.DialTimeout("tcp4", web.Addr().String(), 10*time.Second)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
			br := bufio.NewReader(conn)
			roundTrip := func(method, path string) int {
				t.Helper()
				fmt.Fprintf(conn, "%s /admin%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", method, path, web.Addr())
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			require.Equal(t, http.StatusOK, roundTrip("GET", "/v1/listeners/web"), "the connection is served before the stop")

			_, err = own.Change(context.Background(), stop, "web")
			require.NoError(t, err)
			require.NotEqual(t, acceptgate.Accepting, web.State())

			assert.Equal(t, http.StatusConflict, roundTrip("POST", "/v1/listeners/web/"+stop), "a stop through the gate is refused whatever its state")
			assert.Equal(t, http.StatusOK, roundTrip("POST", "/v1/listeners/web/resume"))
			assert.Equal(t, acceptgate.Accepting, web.State())
		})
	}
}

// TestAdminThroughOwnGateFoundAtEveryAddress: the gate a request came
// through is recognised by the connection's local address, on loopback of
// either family, on a wildcard address reached at a specific one (IPv4, or
// an IPv6 dual-stack socket reached over IPv4 too), and on a unix socket;
// a gate on another port or path is not taken for it.
func TestAdminThroughOwnGateFoundAtEveryAddress(t *testing.T) {
	for _, tc := range []struct {
		name, network, addr string
		dialHost            string // the address the client dials; "" for unix
	}{
		{name: "ipv4", network: "tcp4", addr: "127.0.0.1:0", dialHost: "127.0.0.1"},
		{name: "ipv4 wildcard", network: "tcp4", addr: "0.0.0.0:0", dialHost: "127.0.0.1"},
		{name: "ipv6", network: "tcp6", addr: "[::1]:0", dialHost: "::1"},
		{name: "dual-stack wildcard over ipv4", network: "tcp", addr: "[::]:0", dialHost: "127.0.0.1"},
		{name: "dual-stack wildcard over ipv6", network: "tcp", addr: "[::]:0", dialHost: "::1"},
		{name: "unix", network: "unix", addr: "app.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var web, other *acceptgate.Listener
			var dial func(ctx context.Context, network, addr string) (net.Conn, error)
			base := "http://localhost"
			if tc.network == "unix" {
				dir := t.TempDir()
				web = gateAt(t, "unix", filepath.Join(dir, tc.addr))
				other = gateAt(t, "unix", filepath.Join(dir, "other.sock"))
				dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", web.Addr().String())
				}
			} else {
				web = gateAt(t, tc.network, tc.addr)
				other = gateAt(t, "tcp4", "127.0.0.1:0")
				port := web.Addr().(*net.TCPAddr).Port
				base = "http://" + net.JoinHostPort(tc.dialHost, fmt.Sprint(port))
			}
			h := control.NewHandler(quiet)
			require.NoError(t, h.Register("web", web))
			require.NoError(t, h.Register("other", other))
			serveThrough(t, web, appMux(h))
			through := freshClient(t, dial)

			status, msg := send(t, through, http.MethodPost, base+"/admin/v1/listeners/web/pause")
			assert.Equal(t, http.StatusConflict, status, msg)
			assert.Contains(t, msg, `listener "web"`)
			assert.Equal(t, acceptgate.Accepting, web.State())

			status, msg = send(t, through, http.MethodPost, base+"/admin/v1/listeners/other/pause")
			assert.Equal(t, http.StatusOK, status, "a gate the request did not come through is paused: %s", msg)
			assert.Equal(t, acceptgate.Paused, other.State())
		})
	}
}

// TestAdminThroughOwnGateOverTLS: TLS above the gate (with HTTP/2) or
// below it keeps the address of the connection underneath, so the gate is
// recognised either way.
func TestAdminThroughOwnGateOverTLS(t *testing.T) {
	t.Run("tls over the gate, http2", func(t *testing.T) {
		web := gateAt(t, "tcp4", "127.0.0.1:0")
		h := control.NewHandler(quiet)
		require.NoError(t, h.Register("web", web))
		ts := httptest.NewUnstartedServer(appMux(h))
		ts.Listener.Close()
		ts.Listener = web
		ts.EnableHTTP2 = true
		ts.StartTLS()
		defer ts.Close()
		c := ts.Client()
		defer c.CloseIdleConnections()

		resp, err := c.Post(ts.URL+"/admin/v1/listeners/web/pause", "", nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 2, resp.ProtoMajor, "served over HTTP/2")
		assert.Equal(t, http.StatusConflict, resp.StatusCode, "%s", body)
		assert.Contains(t, string(body), `listener \"web\"`)
		assert.Equal(t, acceptgate.Accepting, web.State())
	})
	t.Run("gate over tls", func(t *testing.T) {
		certs := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and a client that trusts it
		certs.Close()
		tcp, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		web := acceptgate.Wrap(tls.NewListener(tcp, certs.TLS))
		h := control.NewHandler(quiet)
		require.NoError(t, h.Register("web", web))
		serveThrough(t, web, appMux(h))
		c := certs.Client()
		defer c.CloseIdleConnections()

		status, msg := send(t, c, http.MethodPost, "https://"+web.Addr().String()+"/admin/v1/listeners/web/pause")
		assert.Equal(t, http.StatusConflict, status, msg)
		assert.Contains(t, msg, `listener "web"`)
		assert.Equal(t, acceptgate.Accepting, web.State())
	})
}

// TestAdminThroughOwnGateWarnsOnce: the first request through a gate the
// API controls logs a warning, once, so that the mistake shows before
// anyone needs a pause; requests on the API's own listener log none.
func TestAdminThroughOwnGateWarnsOnce(t *testing.T) {
	var log syncBuffer
	web := gateAt(t, "tcp4", "127.0.0.1:0")
	h := control.NewHandler(control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	require.NoError(t, h.Register("web", web))
	serveThrough(t, web, appMux(h))
	own := adminOnItsOwn(t, h)
	const warning = "served through a gate it controls"

	_, err := own.List(context.Background())
	require.NoError(t, err)
	assert.NotContains(t, log.String(), warning, "the API's own listener is no gate of its")

	through := freshClient(t, nil)
	for range 3 {
		status, _ := send(t, through, http.MethodGet, "http://"+web.Addr().String()+"/admin/v1/listeners")
		require.Equal(t, http.StatusOK, status)
	}
	assert.Equal(t, 1, strings.Count(log.String(), warning), log.String())
	assert.Contains(t, log.String(), `listener \"web\"`)
}

// TestArrivedThroughRule is the rule by which a connection's local address
// is matched to a gate's, including the cases no test on this machine's
// sockets can reach.
func TestArrivedThroughRule(t *testing.T) {
	tcp := func(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	unix := func(p string) *net.UnixAddr { return &net.UnixAddr{Name: p, Net: "unix"} }
	for _, tc := range []struct {
		local, gate net.Addr
		want        bool
	}{
		{local: tcp("127.0.0.1:80"), gate: tcp("127.0.0.1:80"), want: true},
		{local: tcp("127.0.0.1:80"), gate: tcp("127.0.0.1:81")},
		{local: tcp("127.0.0.2:80"), gate: tcp("127.0.0.1:80")},
		{local: tcp("10.1.2.3:80"), gate: tcp("0.0.0.0:80"), want: true},
		{local: tcp("[::1]:80"), gate: tcp("0.0.0.0:80")}, // an IPv4 socket takes no IPv6 client
		{local: tcp("[::ffff:10.1.2.3]:80"), gate: tcp("0.0.0.0:80"), want: true},
		{local: tcp("[::ffff:127.0.0.1]:80"), gate: tcp("[::]:80"), want: true},
		{local: tcp("[2001:db8::1]:80"), gate: tcp("[::]:80"), want: true},
		{local: tcp("[2001:db8::1]:80"), gate: tcp("[::]:81")},
		{local: tcp("[::ffff:127.0.0.1]:80"), gate: tcp("127.0.0.1:80"), want: true},
		{local: tcp("[fe80::1%2]:80"), gate: tcp("[fe80::1%2]:80"), want: true},
		{local: tcp("[::1]:80"), gate: tcp("[::2]:80")},
		{local: &net.TCPAddr{Port: 80}, gate: &net.TCPAddr{Port: 80}, want: true},
		{local: unix("/run/app.sock"), gate: unix("/run/app.sock"), want: true},
		{local: unix("/run/app.sock"), gate: unix("/run/other.sock")},
		{local: unix("@app"), gate: unix("@app"), want: true},
		{local: unix(""), gate: unix("")}, // unnamed: nothing to tell them by
		{local: unix("/run/app.sock"), gate: tcp("127.0.0.1:80")},
		{local: tcp("127.0.0.1:80"), gate: unix("127.0.0.1:80")},
		{local: pipeAddr{}, gate: pipeAddr{}}, // in memory, every listener looks the same
	} {
		assert.Equal(t, tc.want, control.ArrivedThrough(tc.local, tc.gate), "%s through %s", tc.local, tc.gate)
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
