package control_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// drainRig is a tracked gate serving HTTP on loopback, with its admin API
// on another loopback socket, as acceptgate serve runs them.
type drainRig struct {
	gate    *acceptgate.Listener
	h       *control.Handler
	c       *control.Client
	url     string
	entered chan struct{} // a request reached /hold
	release chan struct{} // lets requests at /hold answer
}

func newDrainRig(t *testing.T) *drainRig {
	t.Helper()
	ctx := context.Background()
	r := &drainRig{entered: make(chan struct{}, 1), release: make(chan struct{})}
	var err error
	r.gate, err = acceptgate.Listen(ctx, "tcp4", "127.0.0.1:0", acceptgate.WithTracking())
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, _ *http.Request) {
		r.entered <- struct{}{}
		<-r.release
		io.WriteString(w, "held")
	})
	app := &http.Server{Handler: mux}
	appDone := make(chan struct{})
	go func() { defer close(appDone); app.Serve(r.gate) }()
	r.url = "http://" + r.gate.Addr().String()

	r.h = control.NewHandler(quiet, control.WithDrainHook(func() { app.SetKeepAlivesEnabled(false) }))
	require.NoError(t, r.h.Register("web", r.gate))
	adminLn, err := control.ListenAdmin(ctx, "127.0.0.1:0", r.h, nil)
	require.NoError(t, err)
	admin := &http.Server{Handler: r.h}
	adminDone := make(chan struct{})
	go func() { defer close(adminDone); admin.Serve(adminLn) }()
	r.c, err = control.NewClient(adminLn.Addr().String(), "")
	require.NoError(t, err)
	t.Cleanup(func() {
		r.c.CloseIdleConnections()
		admin.Close()
		app.Close()
		<-adminDone
		<-appDone
	})
	return r
}

func get(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

func TestDrainFailsReadinessThenRejectsAndFinishes(t *testing.T) {
	r := newDrainRig(t)
	ctx := context.Background()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	keepAlive := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer keepAlive.CloseIdleConnections()

	ready, err := r.c.Ready(ctx)
	require.NoError(t, err)
	require.True(t, ready)
	assert.Equal(t, "hello", get(t, keepAlive, r.url), "a keep-alive connection, idle from now on")
	held := make(chan string, 1)
	go func() {
		resp, err := fresh.Get(r.url + "/hold")
		if err != nil {
			held <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- string(b)
	}()
	<-r.entered

	before := time.Now()
	st, err := r.c.Drain(ctx, time.Minute)
	require.NoError(t, err)
	assert.True(t, st.Draining)
	assert.False(t, st.Rejected)
	assert.WithinDuration(t, before.Add(time.Minute), st.Deadline, 5*time.Second)

	ready, err = r.c.Ready(ctx)
	require.NoError(t, err)
	assert.False(t, ready, "readiness fails at once")
	assert.Equal(t, acceptgate.Accepting, r.gate.State(), "the gate still accepts during the grace")
	assert.Equal(t, "hello", get(t, fresh, r.url), "a client that connects during the grace is served")

	again, err := r.c.Drain(ctx, 10*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, st.Deadline, again.Deadline, "a longer grace does not push the deadline back")
	assert.Equal(t, st.Started, again.Started)

	hurried, err := r.c.Drain(ctx, 0)
	require.NoError(t, err)
	assert.True(t, hurried.Deadline.Before(st.Deadline), "a shorter grace brings the deadline forward")
	require.Eventually(t, func() bool { return r.h.DrainStatus().Rejected }, 30*time.Second, time.Millisecond)
	assert.Equal(t, acceptgate.Rejecting, r.gate.State())

	_, err = net.DialTimeout("tcp4", r.gate.Addr().String(), 10*time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "after the grace new clients are refused")

	// The idle keep-alive connection is closed by the hook at the deadline;
	// the held request stays.
	require.Eventually(t, func() bool { return r.h.DrainStatus().Active == 1 }, 30*time.Second, time.Millisecond)
	st, err = r.c.DrainStatus(ctx)
	require.NoError(t, err)
	assert.False(t, st.Done, "a request is still in flight")

	close(r.release)
	assert.Equal(t, "held", <-held, "the connection in progress finishes")
	require.Eventually(t, func() bool { return r.h.DrainStatus().Done }, 30*time.Second, time.Millisecond)
	st, err = r.c.DrainStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, control.DrainStatus{Draining: true, Started: st.Started, Deadline: hurried.Deadline, Rejected: true, Done: true}, st)
}

func TestDrainRefusesBadInputAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string // POST if empty
		target  string
		body    string
		header  map[string]string
		host    string
		status  int
		errText string
		opts    []control.Option
	}{
		{name: "no grace", target: "/v1/drain", status: 400, errText: "grace"},
		{name: "not a duration", target: "/v1/drain?grace=soon", status: 400, errText: "not a duration"},
		{name: "a bare number", target: "/v1/drain?grace=30", status: 400, errText: "not a duration"},
		{name: "negative", target: "/v1/drain?grace=-1s", status: 400, errText: "want 0s to 1h0m0s"},
		{name: "too long", target: "/v1/drain?grace=2h", status: 400, errText: "want 0s to 1h0m0s"},
		{name: "twice", target: "/v1/drain?grace=1s&grace=2s", status: 400, errText: "one ?grace"},
		{name: "malformed body", target: "/v1/drain?grace=1s", body: `{"reason":`, status: 400, errText: "malformed"},
		{name: "oversized body", target: "/v1/drain?grace=1s", body: `{"reason":"` + strings.Repeat("x", 8<<10) + `"}`, status: 413, errText: "body over"},
		{name: "cross-site browser", target: "/v1/drain?grace=1s", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "foreign origin", target: "/v1/drain?grace=1s", header: map[string]string{"Origin": "https://evil.example"}, status: 403},
		{name: "rebound host", target: "/v1/drain?grace=1s", host: "evil.example", status: 421},
		{name: "no token", target: "/v1/drain?grace=1s", opts: []control.Option{control.WithToken(token)}, status: 401},
		{name: "wrong method", method: http.MethodPut, target: "/v1/drain?grace=1s", status: 405, errText: "use POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, gates := fixture(t, tc.opts...)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "http://127.0.0.1:9090"+tc.target, strings.NewReader(tc.body))
			req.RemoteAddr = "127.0.0.1:40000"
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.errText != "" {
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
				assert.Contains(t, e.Error, tc.errText)
			}
			assert.False(t, h.DrainStatus().Draining, "nothing changed")
			resp, _, _ := call{method: "GET", path: "/readyz"}.do(h)
			assert.Equal(t, 200, resp.StatusCode, "still ready")
			for name, g := range gates {
				assert.Equal(t, acceptgate.Accepting, g.State(), name)
			}
		})
	}
}

func TestDrainDirectRefusesBadGrace(t *testing.T) {
	h, _ := fixture(t)
	_, err := h.Drain(-time.Second)
	assert.Error(t, err)
	assert.False(t, h.DrainStatus().Draining)
}

func TestListenersTellTheProcess(t *testing.T) {
	h, _ := fixture(t)
	resp, _, arr := call{method: "GET", path: "/v1/listeners"}.do(h)
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, arr, 2)
	for _, v := range arr {
		view := v.(map[string]any)
		assert.Equal(t, float64(os.Getpid()), view["pid"])
		started, err := time.Parse(time.RFC3339Nano, view["process_started"].(string))
		require.NoError(t, err)
		assert.False(t, started.After(time.Now()))
		assert.False(t, started.IsZero())
	}
}
