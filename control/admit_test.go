package control_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// browser is a request as a browser, curl or ctl would send it.
type browser struct {
	method, path, host string
	origin, site, auth string // Origin, Sec-Fetch-Site, Authorization; "" leaves it out
	contentType        string
	remote             string // RemoteAddr; "" is a loopback client
}

func (b browser) request() *http.Request {
	body := io.Reader(http.NoBody)
	if b.method == "POST" {
		body = strings.NewReader(`{"reason":"test"}`)
	}
	req := httptest.NewRequest(b.method, "http://admin"+b.path, body)
	req.Host = b.host
	req.RemoteAddr = b.remote
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:40000"
	}
	for k, v := range map[string]string{"Origin": b.origin, "Sec-Fetch-Site": b.site, "Authorization": b.auth, "Content-Type": b.contentType} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	return req
}

// send serves b and returns the status and the answer, which must be JSON.
func (b browser) send(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, b.request())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%+v", b)
	require.True(t, json.Valid(rec.Body.Bytes()), "%+v: %s", b, rec.Body)
	var obj map[string]any
	if rec.Code != http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &obj), "an error is an object: %+v: %s", b, rec.Body)
	}
	return rec.Code, obj
}

// TestAdmissionMatrix sends every combination of method, Host, Origin,
// Sec-Fetch-Site and Authorization to a Handler with and without a token,
// and checks each answer against the rules, in their order: a foreign Host
// without a token is misdirected (421), an unsafe cross-origin browser
// request is forbidden (403), a missing or wrong token is unauthorized
// (401). Only an admitted POST changes state.
func TestAdmissionMatrix(t *testing.T) {
	hosts := []struct {
		host  string
		local bool // a name only a local client uses: loopback, localhost, allowed
	}{
		{"127.0.0.1:9090", true},
		{"localhost:9090", true},
		{"LocalHost", true},
		{"[::1]:9090", true},
		{"127.0.0.2", true},
		{"admin.internal:9090", true}, // given to WithAllowedHosts
		{"evil.example:9090", false},  // DNS rebinding: the page's own name
		{"127.0.0.1.evil.example", false},
		{"10.0.0.1:9090", false},
		{"", false},
	}
	origins := []string{"", "same", "http://evil.example:9090", "null"}
	sites := []string{"", "same-origin", "none", "same-site", "cross-site"}
	auths := []struct {
		auth  string
		valid bool
	}{
		{"", false},
		{"Bearer " + token, true},
		{"bearer " + token, true},
		{"BEARER   " + token, true},
		{"Bearer wrong", false},
		{"Bearer " + token + "x", false},
		{"Basic " + token, false},
		{token, false},
	}
	methods := []struct{ method, path string }{
		{"GET", "/v1/listeners"},
		{"POST", "/v1/pause"},
		{"PUT", "/v1/pause"}, // unsafe, but no route takes it
	}
	for _, withToken := range []bool{false, true} {
		t.Run(fmt.Sprintf("token=%v", withToken), func(t *testing.T) {
			opts := []control.Option{control.WithAllowedHosts("Admin.Internal:1")}
			if withToken {
				opts = append(opts, control.WithToken(token))
			}
			h, gates := fixture(t, opts...)
			for _, m := range methods {
				for _, hs := range hosts {
					for _, o := range origins {
						if o == "same" {
							o = "http://" + hs.host
						}
						for _, site := range sites {
							for _, a := range auths {
								b := browser{method: m.method, path: m.path, host: hs.host, origin: o, site: site, auth: a.auth}
								want := expected(withToken, hs.local, a.valid, b)
								got, obj := b.send(t, h)
								changed := gates["web"].State() != acceptgate.Accepting
								for _, g := range gates {
									require.NoError(t, g.Resume())
								}
								if !assert.Equal(t, want, got, "%+v", b) {
									continue
								}
								if got != http.StatusOK {
									assert.NotEmpty(t, obj["error"], "%+v", b)
								}
								assert.Equal(t, want == http.StatusOK && m.method == "POST", changed, "state changed: %+v", b)
							}
						}
					}
				}
			}
		})
	}
}

// expected is the status the rules give b.
func expected(withToken, localHost, validAuth bool, b browser) int {
	switch {
	case !withToken && !localHost:
		return http.StatusMisdirectedRequest
	case b.method != "GET" && crossOrigin(b):
		return http.StatusForbidden
	case withToken && !validAuth:
		return http.StatusUnauthorized
	case b.method == "PUT":
		return http.StatusMethodNotAllowed
	}
	return http.StatusOK
}

// crossOrigin reports whether a browser sent b from a page of another
// origin: Sec-Fetch-Site says so, or, from a browser too old to send it,
// Origin names another host than Host does. (An opaque Origin, "null",
// names none, so it matches only an empty Host, which no browser sends.)
func crossOrigin(b browser) bool {
	switch b.site {
	case "same-origin", "none":
		return false
	case "":
		if b.origin == "" {
			return false
		}
		u, err := url.Parse(b.origin)
		return err != nil || u.Host != b.host
	}
	return true
}

func TestCrossSiteStateChangeIsRefusedWhateverItsContentType(t *testing.T) {
	for _, withToken := range []bool{false, true} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json", ""} {
			opts := []control.Option{}
			auth := ""
			if withToken {
				opts, auth = append(opts, control.WithToken(token)), "Bearer "+token
			}
			h, gates := fixture(t, opts...)
			for _, b := range []browser{
				{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090", origin: "https://evil.example", site: "cross-site", contentType: ct, auth: auth},
				{method: "POST", path: "/v1/listeners/web/reject", host: "127.0.0.1:9090", origin: "https://evil.example", contentType: ct, auth: auth},
				{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090", site: "same-site", contentType: ct, auth: auth},
			} {
				status, obj := b.send(t, h)
				assert.Equal(t, http.StatusForbidden, status, "%+v", b)
				assert.Contains(t, obj["error"], "cross-origin", "%+v", b)
				assert.Equal(t, acceptgate.Accepting, gates["web"].State(), "%+v", b)
			}
		}
	}
}

func TestSameOriginPageAndNonBrowserClientsMayChangeState(t *testing.T) {
	for _, b := range []browser{
		{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090", origin: "http://127.0.0.1:9090", site: "same-origin"},
		{method: "POST", path: "/v1/pause", host: "localhost:9090", origin: "http://localhost:9090"}, // a browser without Sec-Fetch-Site
		{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090", site: "none"},                    // typed in the address bar
		{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090"},                                  // curl -X POST
	} {
		h, gates := fixture(t)
		status, _ := b.send(t, h)
		assert.Equal(t, http.StatusOK, status, "%+v", b)
		assert.Equal(t, acceptgate.Paused, gates["web"].State(), "%+v", b)
	}
}

func TestForeignHostIsRefusedBeforeAnyRoute(t *testing.T) {
	h, _ := fixture(t)
	for _, path := range []string{"/", "/v1/listeners", "/v1/listeners/web", "/nope"} {
		status, obj := browser{method: "GET", path: path, host: "evil.example:9090"}.send(t, h)
		assert.Equal(t, http.StatusMisdirectedRequest, status, path)
		assert.Contains(t, obj["error"], "evil.example", path)
	}
	status, _ := browser{method: "GET", path: "/readyz", host: "evil.example:9090"}.send(t, fixtureHandler(t, control.WithToken(token)))
	assert.Equal(t, http.StatusOK, status, "a token makes Host irrelevant: the attacker's page does not have it")
}

// TestReadyzAnswersProbesWhateverTheirHost asks /readyz as a load balancer
// does, over a real connection: HAProxy's httpchk sends HTTP/1.0 with no
// Host at all, a kubelet an IP, a balancer a name of its own. Each gets
// the readiness, while the views still refuse a foreign Host.
func TestReadyzAnswersProbesWhateverTheirHost(t *testing.T) {
	h, gates := fixture(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	ask := func(request string) string {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = io.WriteString(c, request)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(body)
	}
	for _, req := range []string{
		"GET /readyz HTTP/1.0\r\n\r\n",                                              // HAProxy's option httpchk
		"GET /readyz HTTP/1.1\r\nHost: 10.0.0.7:9090\r\nConnection: close\r\n\r\n",  // a kubelet, by pod IP
		"GET /readyz HTTP/1.1\r\nHost: web-3.internal\r\nConnection: close\r\n\r\n", // a balancer's own name
	} {
		assert.Contains(t, ask(req), "200 OK", "%q", req)
	}
	require.NoError(t, gates["web"].Pause())
	assert.Contains(t, ask("GET /readyz HTTP/1.0\r\n\r\n"), "503", "a paused gate fails the probe")
	assert.Contains(t, ask("GET /v1/listeners HTTP/1.1\r\nHost: web-3.internal\r\nConnection: close\r\n\r\n"), "421",
		"the views keep their Host check")
}

func TestWithoutATokenOnlyLoopbackClientsMayCall(t *testing.T) {
	h, gates := fixture(t)
	for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:1234", "garbage"} {
		status, obj := browser{method: "POST", path: "/v1/pause", host: "127.0.0.1:9090", remote: remote}.send(t, h)
		assert.Equal(t, http.StatusForbidden, status, remote)
		assert.Contains(t, obj["error"], "loopback", remote)
	}
	assert.Equal(t, acceptgate.Accepting, gates["web"].State())
	for _, remote := range []string{"[::1]:1234", "[::ffff:127.0.0.1]:1234"} {
		status, _ := browser{method: "GET", path: "/readyz", host: "localhost", remote: remote}.send(t, h)
		assert.Equal(t, http.StatusOK, status, remote)
	}
}

func TestReadyzTellsNothingButReadiness(t *testing.T) {
	h, gates := fixture(t, control.WithToken(token))
	require.NoError(t, gates["grpc"].Reject())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, browser{method: "GET", path: "/readyz", host: "admin.example.com"}.request())
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.JSONEq(t, `{"ready":false,"states":["accepting","rejecting"]}`, rec.Body.String())
	for name, g := range gates {
		assert.NotContains(t, rec.Body.String(), name)
		_, port, _ := net.SplitHostPort(g.Addr().String())
		assert.NotContains(t, rec.Body.String(), port)
	}
}

// TestHandlerInARealServer mounts the Handler under a prefix of a user's
// own mux, served over loopback, and checks the rules hold there.
func TestHandlerInARealServer(t *testing.T) {
	h, gates := fixture(t)
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	base := "http://" + ln.Addr().String() + "/admin"

	post := func(path string, hdr map[string]string, host string) int {
		req, err := http.NewRequest("POST", base+path, strings.NewReader("x"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		assert.True(t, json.Valid(body), "%s", body)
		return resp.StatusCode
	}
	assert.Equal(t, 403, post("/v1/pause", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, ""))
	assert.Equal(t, 421, post("/v1/pause", nil, "evil.example"))
	assert.Equal(t, acceptgate.Accepting, gates["web"].State())
	assert.Equal(t, 400, post("/v1/pause", nil, ""), "admitted; text/plain is not a JSON body")
	assert.Equal(t, acceptgate.Accepting, gates["web"].State())

	cl, err := control.NewClient(base, "")
	require.NoError(t, err)
	defer cl.CloseIdleConnections()
	_, err = cl.Change(context.Background(), "pause", "web")
	require.NoError(t, err, "a client on loopback needs no token")
	assert.Equal(t, acceptgate.Paused, gates["web"].State())
}

// TestUnixSocketIgnoresHost: no browser reaches a unix socket, so its
// clients may name the server as they like, without a token.
func TestUnixSocketIgnoresHost(t *testing.T) {
	h, gates := fixture(t)
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := control.ListenAdmin(context.Background(), path, h, nil)
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post("http://evil.example/v1/pause", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, acceptgate.Paused, gates["web"].State())
}

func TestRefusalsAreLoggedWithAFloodCut(t *testing.T) {
	var log bytes.Buffer
	h, _ := fixture(t, control.WithToken(token), control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	now := time.Unix(1000, 0)
	control.SetAuditClock(h, func() time.Time { return now })

	flood := browser{method: "POST", path: "/v1/pause", host: "127.0.0.1", remote: "192.0.2.7:5555", auth: "Bearer wrong"}
	for range 1000 {
		status, _ := flood.send(t, h)
		require.Equal(t, 401, status)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	require.Len(t, lines, control.AuditPerSecond, "one second's worth, not a thousand")
	assert.Contains(t, lines[0], "remote=192.0.2.7:5555")
	assert.Contains(t, lines[0], "status=401")
	assert.Contains(t, lines[0], `reason="missing or wrong bearer token: wrong token"`)
	assert.NotContains(t, log.String(), "wrong\"", "the token sent is not logged")

	now = now.Add(time.Second)
	log.Reset()
	browser{method: "POST", path: "/v1/pause", host: "127.0.0.1", origin: "https://evil.example", site: "cross-site", auth: "Bearer " + token}.send(t, h)
	assert.Contains(t, log.String(), "status=403")
	assert.Contains(t, log.String(), "origin=https://evil.example")
	assert.Contains(t, log.String(), fmt.Sprintf(`refused requests not logged" count=%d`, 1000-control.AuditPerSecond), "what was cut is counted, once its second is over")
	assert.NotContains(t, log.String(), token)

	log.Reset()
	open, _ := fixture(t, control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	browser{method: "GET", path: "/v1/listeners", host: "evil.example"}.send(t, open)
	assert.Contains(t, log.String(), "status=421")
	assert.Contains(t, log.String(), "host=evil.example")
}

func fixtureHandler(t *testing.T, opts ...control.Option) *control.Handler {
	h, _ := fixture(t, opts...)
	return h
}
