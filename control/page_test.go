package control_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// serve sends b to h and returns the recorded answer.
func serve(h http.Handler, b browser) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, b.request())
	return rec
}

func TestPageLoadsWithoutATokenWhileItsDataNeedsOne(t *testing.T) {
	h := fixtureHandler(t, control.WithToken(token))
	for _, method := range []string{"GET", "HEAD"} {
		rec := serve(h, browser{method: method, path: "/", host: "127.0.0.1:9090", site: "none"})
		require.Equal(t, http.StatusOK, rec.Code, method)
		assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'", "no other site may frame it")
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "connect-src 'self'", "it calls this API only")
		assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	}
	body := serve(h, browser{method: "GET", path: "/", host: "127.0.0.1:9090"}).Body.String()
	assert.Contains(t, body, "<title>acceptgate</title>")
	for _, load := range []string{"src=", "href=", "url(", "@import", "https://"} {
		assert.NotContains(t, body, load, "no request to anything but the API")
	}

	status, _ := browser{method: "GET", path: "/v1/listeners", host: "127.0.0.1:9090", site: "same-origin"}.send(t, h)
	assert.Equal(t, http.StatusUnauthorized, status, "the page's data needs the token")
	status, _ = browser{method: "GET", path: "/v1/listeners", host: "127.0.0.1:9090", site: "same-origin", auth: "Bearer " + token}.send(t, h)
	assert.Equal(t, http.StatusOK, status)
}

func TestPageFollowsTheAdmissionRules(t *testing.T) {
	h := fixtureHandler(t)
	status, _ := browser{method: "GET", path: "/", host: "evil.example:9090"}.send(t, h)
	assert.Equal(t, http.StatusMisdirectedRequest, status, "a rebound name gets no page")
	status, _ = browser{method: "GET", path: "/", host: "127.0.0.1:9090", remote: "192.0.2.1:1234"}.send(t, h)
	assert.Equal(t, http.StatusForbidden, status, "without a token, loopback only")
	status, _ = browser{method: "POST", path: "/", host: "127.0.0.1:9090"}.send(t, h)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
}

// The page's inline script and style run only if the policy names their
// hashes: a page edited without the policy following would be inert.
func TestPagePolicyAllowsExactlyItsInlineScriptAndStyle(t *testing.T) {
	rec := serve(fixtureHandler(t), browser{method: "GET", path: "/", host: "localhost"})
	policy := rec.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		_, rest, ok := strings.Cut(rec.Body.String(), "<"+tag+">")
		require.True(t, ok, tag)
		inline, _, _ := strings.Cut(rest, "</"+tag+">")
		sum := sha256.Sum256([]byte(inline))
		assert.Contains(t, policy, tag+"-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", tag)
		assert.Equal(t, 1, strings.Count(rec.Body.String(), "<"+tag), "one %s element", tag)
	}
	assert.Contains(t, policy, "default-src 'none'")
}

func TestWithHandlerServesReadsBehindTheAdmissionRules(t *testing.T) {
	var calls atomic.Int32
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "metrics at "+r.URL.Path)
	})
	h := fixtureHandler(t, control.WithToken(token), control.WithHandler("/metrics", metrics))
	bearer := "Bearer " + token
	for _, tc := range []struct {
		name   string
		req    browser
		status int
		served bool
	}{
		{name: "with the token", req: browser{method: "GET", path: "/metrics", auth: bearer}, status: 200, served: true},
		{name: "trailing slash", req: browser{method: "GET", path: "/metrics/", auth: bearer}, status: 200, served: true},
		{name: "HEAD", req: browser{method: "HEAD", path: "/metrics", auth: bearer}, status: 200, served: true},
		{name: "without the token", req: browser{method: "GET", path: "/metrics"}, status: 401},
		{name: "wrong token", req: browser{method: "GET", path: "/metrics", auth: "Bearer nope"}, status: 401},
		{name: "POST", req: browser{method: "POST", path: "/metrics", auth: bearer}, status: 405},
		{name: "cross-site POST", req: browser{method: "POST", path: "/metrics", auth: bearer, origin: "https://evil.example", site: "cross-site"}, status: 403},
		{name: "other path", req: browser{method: "GET", path: "/metrics/x", auth: bearer}, status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			tc.req.host = "127.0.0.1:9090"
			rec := serve(h, tc.req)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, tc.served, calls.Load() > before, "handler called")
			if tc.served && tc.req.method == "GET" {
				assert.Equal(t, "metrics at /metrics", rec.Body.String())
			}
		})
	}
}

func TestWithHandlerLeavesOutTheAPIsOwnPathsAndSaysSo(t *testing.T) {
	var log bytes.Buffer
	hijack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hijacked") })
	bad := []string{"", "metrics", "/", "/readyz", "/v1", "/v1/listeners", "/v1/pause", "/a/../b", "/a/"}
	opts := []control.Option{control.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))}
	for _, p := range bad {
		opts = append(opts, control.WithHandler(p, hijack))
	}
	opts = append(opts, control.WithHandler("/nil", nil))
	h, _ := fixture(t, opts...)
	for _, p := range []string{"/", "/readyz", "/v1/listeners", "/a/b", "/nil"} {
		rec := serve(h, browser{method: "GET", path: p, host: "127.0.0.1:9090"})
		assert.NotContains(t, rec.Body.String(), "hijacked", p)
	}
	assert.Equal(t, http.StatusNotFound, serve(h, browser{method: "GET", path: "/nil", host: "127.0.0.1:9090"}).Code)
	assert.Equal(t, len(bad)+1, strings.Count(log.String(), "WithHandler path left out"), log.String())
}

// Every answer, refusals and WithHandler's routes included, tells the
// browser not to guess its type: a route's text is never taken for a page
// of the admin API's origin.
func TestNoAnswerIsSniffed(t *testing.T) {
	h := fixtureHandler(t, control.WithToken(token),
		control.WithHandler("/extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><script>alert(1)</script>")
		})))
	for _, b := range []browser{
		{method: "GET", path: "/", host: "127.0.0.1:9090"},
		{method: "GET", path: "/extra", host: "127.0.0.1:9090", auth: "Bearer " + token},
		{method: "GET", path: "/extra", host: "127.0.0.1:9090"},
		{method: "GET", path: "/v1/listeners", host: "127.0.0.1:9090", auth: "Bearer " + token},
		{method: "GET", path: "/readyz", host: "evil.example"},
	} {
		assert.Equal(t, "nosniff", serve(h, b).Header().Get("X-Content-Type-Options"), "%s %s", b.method, b.path)
	}
}
