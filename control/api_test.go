package control_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

const token = "s3cret-0123456789"

// quiet sends a Handler's log to nowhere.
var quiet = control.WithLogger(slog.New(slog.DiscardHandler))

// fixture is a Handler over two gates, "web" and "grpc", on loopback.
func fixture(t *testing.T, opts ...control.Option) (*control.Handler, map[string]*acceptgate.Listener) {
	t.Helper()
	h := control.NewHandler(append([]control.Option{quiet}, opts...)...)
	gates := map[string]*acceptgate.Listener{}
	for _, name := range []string{"web", "grpc"} {
		g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { g.Close() })
		require.NoError(t, h.Register(name, g))
		gates[name] = g
	}
	return h, gates
}

type call struct {
	method, path, body string
	auth               string // the Authorization header; empty for none
}

func (c call) do(h http.Handler) (*http.Response, map[string]any, []any) {
	var body io.Reader = strings.NewReader(c.body)
	req := httptest.NewRequest(c.method, "http://127.0.0.1:9090"+c.path, body)
	req.RemoteAddr = "127.0.0.1:40000"
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	raw, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	var arr []any
	if json.Unmarshal(raw, &obj) != nil {
		json.Unmarshal(raw, &arr)
	}
	return resp, obj, arr
}

func TestAPIRoutes(t *testing.T) {
	bearer := "Bearer " + token
	for _, tc := range []struct {
		name      string
		call      call
		status    int
		errSubstr string            // for error answers
		states    map[string]string // gate states after the call
		check     func(*testing.T, map[string]any, []any)
	}{
		{name: "list", call: call{method: "GET", path: "/v1/listeners", auth: bearer}, status: 200, states: map[string]string{"web": "accepting", "grpc": "accepting"}, check: func(t *testing.T, _ map[string]any, arr []any) {
			require.Len(t, arr, 2)
			first := arr[0].(map[string]any)
			assert.Equal(t, "grpc", first["name"], "sorted by name")
			for _, k := range []string{"name", "addr", "state", "since", "accepted", "active", "aborted", "queued", "backlog"} {
				assert.Contains(t, first, k)
			}
		}},
		{name: "one", call: call{method: "GET", path: "/v1/listeners/web", auth: bearer}, status: 200, check: func(t *testing.T, obj map[string]any, _ []any) { assert.Equal(t, "web", obj["name"]) }},
		{name: "pause one", call: call{method: "POST", path: "/v1/listeners/web/pause", auth: bearer}, status: 200, states: map[string]string{"web": "paused", "grpc": "accepting"}, check: func(t *testing.T, obj map[string]any, _ []any) { assert.Equal(t, "paused", obj["state"]) }},
		{name: "reject one with a reason", call: call{method: "POST", path: "/v1/listeners/grpc/reject", body: `{"reason":"deploy"}`, auth: bearer}, status: 200, states: map[string]string{"web": "accepting", "grpc": "rejecting"}},
		{name: "pause all", call: call{method: "POST", path: "/v1/pause", auth: bearer}, status: 200, states: map[string]string{"web": "paused", "grpc": "paused"}, check: func(t *testing.T, _ map[string]any, arr []any) { assert.Len(t, arr, 2) }},
		{name: "readyz", call: call{method: "GET", path: "/readyz"}, status: 200, check: func(t *testing.T, obj map[string]any, _ []any) {
			assert.Equal(t, map[string]any{"ready": true, "states": []any{"accepting"}}, obj, "nothing but readiness")
		}},
		{name: "unknown gate", call: call{method: "GET", path: "/v1/listeners/nope", auth: bearer}, status: 404, errSubstr: "nope"},
		{name: "unknown gate change", call: call{method: "POST", path: "/v1/listeners/nope/pause", auth: bearer}, status: 404, errSubstr: "nope"},
		{name: "unknown route", call: call{method: "GET", path: "/v2/whatever", auth: bearer}, status: 404, errSubstr: "no such route"},
		{name: "unknown action", call: call{method: "POST", path: "/v1/listeners/web/explode", auth: bearer}, status: 404, errSubstr: "no such route"},
		{name: "GET never changes state", call: call{method: "GET", path: "/v1/listeners/web/pause", auth: bearer}, status: 405, errSubstr: "use POST", states: map[string]string{"web": "accepting"}},
		{name: "GET on all", call: call{method: "GET", path: "/v1/pause", auth: bearer}, status: 405, errSubstr: "use POST", states: map[string]string{"web": "accepting", "grpc": "accepting"}},
		{name: "POST on a view", call: call{method: "POST", path: "/v1/listeners", auth: bearer}, status: 405, errSubstr: "use GET"},
		{name: "DELETE readyz", call: call{method: "DELETE", path: "/readyz"}, status: 405, errSubstr: "use GET"},
		{name: "no token", call: call{method: "POST", path: "/v1/listeners/web/pause"}, status: 401, errSubstr: "token", states: map[string]string{"web": "accepting"}},
		{name: "wrong token", call: call{method: "POST", path: "/v1/pause", auth: "Bearer nope"}, status: 401, errSubstr: "token", states: map[string]string{"web": "accepting", "grpc": "accepting"}},
		{name: "token without Bearer", call: call{method: "GET", path: "/v1/listeners", auth: token}, status: 401, errSubstr: "token"},
		{name: "lower-case scheme", call: call{method: "POST", path: "/v1/listeners/web/pause", auth: "bearer " + token}, status: 200, states: map[string]string{"web": "paused"}},
		{name: "Basic scheme", call: call{method: "GET", path: "/v1/listeners", auth: "Basic " + token}, status: 401, errSubstr: "not Bearer"},
		{name: "no token to read", call: call{method: "GET", path: "/v1/listeners"}, status: 401, errSubstr: "token"},
		{name: "bad JSON", call: call{method: "POST", path: "/v1/listeners/web/pause", body: `{"reason":`, auth: bearer}, status: 400, errSubstr: "malformed", states: map[string]string{"web": "accepting"}},
		{name: "unknown field", call: call{method: "POST", path: "/v1/pause", body: `{"force":true}`, auth: bearer}, status: 400, errSubstr: "malformed", states: map[string]string{"web": "accepting", "grpc": "accepting"}},
		{name: "oversized body", call: call{method: "POST", path: "/v1/listeners/web/pause", body: `{"reason":"` + strings.Repeat("x", 8<<10) + `"}`, auth: bearer}, status: 413, errSubstr: "body over", states: map[string]string{"web": "accepting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, gates := fixture(t, control.WithToken(token))
			resp, obj, arr := tc.call.do(h)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tc.errSubstr != "" {
				require.NotNil(t, obj, "an error answer is a JSON object")
				assert.Contains(t, obj["error"], tc.errSubstr)
			}
			for name, want := range tc.states {
				assert.Equal(t, want, gates[name].State().String(), name)
			}
			if tc.check != nil {
				tc.check(t, obj, arr)
			}
		})
	}
}

func TestReadyzFollowsTheGates(t *testing.T) {
	h, gates := fixture(t)
	get := call{method: "GET", path: "/readyz"}
	resp, _, _ := get.do(h)
	assert.Equal(t, 200, resp.StatusCode)
	require.NoError(t, gates["web"].Pause())
	resp, obj, _ := get.do(h)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, map[string]any{"ready": false, "states": []any{"accepting", "paused"}}, obj)
	require.NoError(t, gates["web"].Resume())
	resp, _, _ = get.do(h)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestRefusedTransitionIsAConflict(t *testing.T) {
	h, gates := fixture(t)
	require.NoError(t, gates["web"].Close())
	resp, obj, _ := call{method: "POST", path: "/v1/listeners/web/resume"}.do(h)
	assert.Equal(t, 409, resp.StatusCode)
	assert.Contains(t, obj["error"], "closed")
	assert.Equal(t, acceptgate.Closed, gates["web"].State())

	resp, obj, _ = call{method: "POST", path: "/v1/pause"}.do(h)
	assert.Equal(t, 409, resp.StatusCode, "one gate of all refused")
	assert.Contains(t, obj["error"], "web")
}

func TestRegisterRefusesBadAndDuplicateNames(t *testing.T) {
	h, gates := fixture(t)
	assert.Error(t, h.Register("web", gates["grpc"]), "duplicate")
	assert.Error(t, h.Register("", gates["grpc"]))
	assert.Error(t, h.Register("a/b", gates["grpc"]))
}

// "." and ".." are made of allowed characters but no route can name them:
// the server answers 404 for a path that is not clean, and a browser cleans
// the admin page's relative "v1/listeners/../pause" into "/v1/pause", so the
// Pause button of a gate named ".." paused every gate.
func TestRegisterRefusesNamesNoRouteCanReach(t *testing.T) {
	for _, name := range []string{".", ".."} {
		h, gates := fixture(t)
		if h.Register(name, gates["grpc"]) != nil {
			continue
		}
		resp, _, _ := call{method: "GET", path: "/v1/listeners/" + name}.do(h)
		assert.Equal(t, 200, resp.StatusCode, "gate %q registered but unreachable", name)
	}
}

func TestListenAdminRules(t *testing.T) {
	ctx := context.Background()
	open := control.NewHandler()
	_, err := control.ListenAdmin(ctx, "0.0.0.0:0", open, nil)
	assert.ErrorIs(t, err, control.ErrNoToken)
	_, err = control.ListenAdmin(ctx, ":0", open, nil)
	assert.ErrorIs(t, err, control.ErrNoToken)

	ln, err := control.ListenAdmin(ctx, "127.0.0.1:0", open, nil)
	require.NoError(t, err, "loopback needs no token")
	ln.Close()
	ln, err = control.ListenAdmin(ctx, "0.0.0.0:0", control.NewHandler(control.WithToken(token), quiet), nil)
	require.NoError(t, err, "any address with a token")
	ln.Close()

	taken, err := control.ListenAdmin(ctx, "127.0.0.1:0", open, nil)
	require.NoError(t, err)
	defer taken.Close()
	_, err = control.ListenAdmin(ctx, taken.Addr().String(), open, nil)
	assert.Error(t, err, "a taken port")
}

func TestClientOverAUnixSocket(t *testing.T) {
	h, gates := fixture(t, control.WithToken(token))
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := control.ListenAdmin(context.Background(), path, h, nil)
	require.NoError(t, err)
	assertMode(t, path, 0o600)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	c, err := control.NewClient(path, token)
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	vs, err := c.List(ctx)
	require.NoError(t, err)
	assert.Len(t, vs, 2)
	vs, err = c.Change(ctx, "pause", "web")
	require.NoError(t, err)
	assert.Equal(t, "paused", vs[0].State)
	assert.Equal(t, acceptgate.Paused, gates["web"].State())
	ready, err := c.Ready(ctx)
	require.NoError(t, err)
	assert.False(t, ready)
	_, err = c.Change(ctx, "resume", "")
	require.NoError(t, err)
	v, err := c.Get(ctx, "web")
	require.NoError(t, err)
	assert.Equal(t, "accepting", v.State)

	bad, err := control.NewClient(path, "wrong")
	require.NoError(t, err)
	defer bad.CloseIdleConnections()
	_, err = bad.List(ctx)
	var ae *control.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 401, ae.Status)
}
