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

const token = "s3cret"

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
	auth               string // the Authorization header; "-" for none
}

func (c call) do(h http.Handler) (*http.Response, map[string]any, []any) {
	var body io.Reader = strings.NewReader(c.body)
	req := httptest.NewRequest(c.method, "http://127.0.0.1:9090"+c.path, body)
	req.RemoteAddr = "127.0.0.1:40000"
	if c.auth != "-" {
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
		{"list", call{"GET", "/v1/listeners", "", bearer}, 200, "", map[string]string{"web": "accepting", "grpc": "accepting"},
			func(t *testing.T, _ map[string]any, arr []any) {
				require.Len(t, arr, 2)
				first := arr[0].(map[string]any)
				assert.Equal(t, "grpc", first["name"], "sorted by name")
				for _, k := range []string{"name", "addr", "state", "since", "accepted", "active", "queued", "backlog"} {
					assert.Contains(t, first, k)
				}
			}},
		{"one", call{"GET", "/v1/listeners/web", "", bearer}, 200, "", nil,
			func(t *testing.T, obj map[string]any, _ []any) { assert.Equal(t, "web", obj["name"]) }},
		{"pause one", call{"POST", "/v1/listeners/web/pause", "", bearer}, 200, "", map[string]string{"web": "paused", "grpc": "accepting"},
			func(t *testing.T, obj map[string]any, _ []any) { assert.Equal(t, "paused", obj["state"]) }},
		{"reject one with a reason", call{"POST", "/v1/listeners/grpc/reject", `{"reason":"deploy"}`, bearer}, 200, "", map[string]string{"web": "accepting", "grpc": "rejecting"}, nil},
		{"pause all", call{"POST", "/v1/pause", "", bearer}, 200, "", map[string]string{"web": "paused", "grpc": "paused"},
			func(t *testing.T, _ map[string]any, arr []any) { assert.Len(t, arr, 2) }},
		{"readyz", call{"GET", "/readyz", "", "-"}, 200, "", nil,
			func(t *testing.T, obj map[string]any, _ []any) {
				assert.Equal(t, map[string]any{"ready": true, "states": []any{"accepting"}}, obj, "nothing but readiness")
			}},
		{"unknown gate", call{"GET", "/v1/listeners/nope", "", bearer}, 404, "nope", nil, nil},
		{"unknown gate change", call{"POST", "/v1/listeners/nope/pause", "", bearer}, 404, "nope", nil, nil},
		{"unknown route", call{"GET", "/v2/whatever", "", bearer}, 404, "no such route", nil, nil},
		{"unknown action", call{"POST", "/v1/listeners/web/explode", "", bearer}, 404, "no such route", nil, nil},
		{"GET never changes state", call{"GET", "/v1/listeners/web/pause", "", bearer}, 405, "use POST", map[string]string{"web": "accepting"}, nil},
		{"GET on all", call{"GET", "/v1/pause", "", bearer}, 405, "use POST", map[string]string{"web": "accepting", "grpc": "accepting"}, nil},
		{"POST on a view", call{"POST", "/v1/listeners", "", bearer}, 405, "use GET", nil, nil},
		{"DELETE readyz", call{"DELETE", "/readyz", "", "-"}, 405, "use GET", nil, nil},
		{"no token", call{"POST", "/v1/listeners/web/pause", "", "-"}, 401, "token", map[string]string{"web": "accepting"}, nil},
		{"wrong token", call{"POST", "/v1/pause", "", "Bearer nope"}, 401, "token", map[string]string{"web": "accepting", "grpc": "accepting"}, nil},
		{"token without Bearer", call{"GET", "/v1/listeners", "", token}, 401, "token", nil, nil},
		{"lower-case scheme", call{"POST", "/v1/listeners/web/pause", "", "bearer " + token}, 200, "", map[string]string{"web": "paused"}, nil},
		{"Basic scheme", call{"GET", "/v1/listeners", "", "Basic " + token}, 401, "not Bearer", nil, nil},
		{"no token to read", call{"GET", "/v1/listeners", "", "-"}, 401, "token", nil, nil},
		{"bad JSON", call{"POST", "/v1/listeners/web/pause", `{"reason":`, bearer}, 400, "malformed", map[string]string{"web": "accepting"}, nil},
		{"unknown field", call{"POST", "/v1/pause", `{"force":true}`, bearer}, 400, "malformed", map[string]string{"web": "accepting", "grpc": "accepting"}, nil},
		{"oversized body", call{"POST", "/v1/listeners/web/pause", `{"reason":"` + strings.Repeat("x", 8<<10) + `"}`, bearer}, 413, "body over", map[string]string{"web": "accepting"}, nil},
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
	get := call{"GET", "/readyz", "", "-"}
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
	resp, obj, _ := call{"POST", "/v1/listeners/web/resume", "", "-"}.do(h)
	assert.Equal(t, 409, resp.StatusCode)
	assert.Contains(t, obj["error"], "closed")
	assert.Equal(t, acceptgate.Closed, gates["web"].State())

	resp, obj, _ = call{"POST", "/v1/pause", "", "-"}.do(h)
	assert.Equal(t, 409, resp.StatusCode, "one gate of all refused")
	assert.Contains(t, obj["error"], "web")
}

func TestRegisterRefusesBadAndDuplicateNames(t *testing.T) {
	h, gates := fixture(t)
	assert.Error(t, h.Register("web", gates["grpc"]), "duplicate")
	assert.Error(t, h.Register("", gates["grpc"]))
	assert.Error(t, h.Register("a/b", gates["grpc"]))
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
