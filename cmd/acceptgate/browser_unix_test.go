//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// chromiumPath finds a Chromium to drive, or skips the test, unless
// ACCEPTGATE_REQUIRE_BROWSER is set (as CI sets it): then a missing browser
// fails it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no chromium in PATH (apt-get install chromium, as .ci/run does)"
	if os.Getenv("ACCEPTGATE_REQUIRE_BROWSER") != "" {
		t.Fatal(why + ", and ACCEPTGATE_REQUIRE_BROWSER is set")
	}
	t.Skip(why)
	return ""
}

// headless starts a headless Chromium with a profile of its own, which the
// test stops at its end.
func headless(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 640),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(tab), "start %s", chromiumPath(t))
	return tab
}

// apiState asks the admin API, as ctl would, what state gate "http" is in.
func apiState(t *testing.T, ctx context.Context, admin, token string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", admin+"/v1/listeners/http", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v control.View
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v.State
}

// TestAdminPageInARealBrowser drives the page that serve's admin API serves
// at / in headless Chromium: it asks for the token once, shows the gate
// accepting, pauses it with a click, shows a client queued in the kernel,
// and resumes it with a click, which serves the client. With
// ACCEPTGATE_SCREENSHOT=file.png it fills the queue for half a minute and
// saves a screenshot of the page there.
func TestAdminPageInARealBrowser(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	const token = "page-test-token-0123456789"
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0", "--token-file", writeToken(t, token, 0o600), "--backlog", "16")
	tab := headless(t, ctx)
	const gate = `section[data-gate="http"]`
	css := func(sel string) chromedp.CSS { return chromedp.CSS(gate + sel) }
	// step bounds one step; the first call, in headless, started the
	// browser on a context without a deadline, as chromedp asks.
	step := func() context.Context {
		c, cancel := context.WithTimeout(tab, patience)
		t.Cleanup(cancel)
		return c
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(step(), actions...), what)
	}

	do("the page asks for the token, then shows the gate accepting",
		chromedp.Navigate(srv.admin+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(css(" .state.accepting")),
	)
	do("a reload does not ask again: the tab keeps the token",
		chromedp.Reload(),
		chromedp.WaitVisible(css(" .state.accepting")),
	)
	stored, err := chromedp.Run(step(), chromedp.Evaluate[string](`sessionStorage.getItem("acceptgate-token")`))
	require.NoError(t, err)
	assert.Equal(t, token, stored)
	formHidden, err := chromedp.Run(step(), chromedp.Evaluate[bool](`document.getElementById("token-form").hidden`))
	require.NoError(t, err)
	assert.True(t, formHidden, "the token form stays hidden")

	do("Pause", chromedp.Click(css(" button.pause")), chromedp.WaitVisible(css(" .state.paused")))
	assert.Equal(t, "paused", apiState(t, ctx, srv.admin, token), "the API reports what the page shows")

	// A client of the demo server waits in the kernel's queue while paused.
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url, "http://"), "/")
	client, err := net.DialTimeout("tcp", addr, patience)
	require.NoError(t, err)
	defer client.Close()
	_, err = io.WriteString(client, "GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	do("the queued client appears in the queue figure", chromedp.WaitVisible(css(`[data-queued="1"]`)))
	queue, err := chromedp.Run(step(), chromedp.Text(css(" dd.queue")))
	require.NoError(t, err)
	assert.Equal(t, "1 / 16", queue)
	line, err := chromedp.Run(step(), chromedp.Evaluate[bool](`document.querySelector('`+gate+` svg polyline') !== null`))
	require.NoError(t, err)
	assert.True(t, line, "the chart draws the queue")

	if shot := os.Getenv("ACCEPTGATE_SCREENSHOT"); shot != "" {
		screenshot(t, tab, addr, shot)
	}

	do("Resume", chromedp.Click(css(" button.resume")),
		chromedp.WaitVisible(css(" .state.accepting")),
		chromedp.WaitVisible(css(`[data-queued="0"]`)))
	assert.Equal(t, "accepting", apiState(t, ctx, srv.admin, token))
	require.NoError(t, client.SetReadDeadline(time.Now().Add(patience)))
	answer, err := io.ReadAll(client)
	require.NoError(t, err)
	assert.Contains(t, string(answer), "200 OK", "the queued client is served after Resume")
}

// TestAdminPageAsksAgainForATokenItCannotSend opens the page of an API with
// a token: it asks for the token and stops polling until it has one. Then
// it types a token a browser cannot put in a header (a character outside
// Latin-1, as a paste can bring): the page must ask again, not keep it for
// the tab and fail every call; the right token then works.
func TestAdminPageAsksAgainForATokenItCannotSend(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	const token = "page-test-token-0123456789"
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0", "--token-file", writeToken(t, token, 0o600))
	tab := headless(t, ctx)
	step, stepCancel := context.WithTimeout(tab, patience)
	defer stepCancel()

	require.NoError(t, chromedp.Do(step,
		chromedp.Navigate(srv.admin+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	))
	// While it waits for the token, the page does not go on calling with
	// none: each call would be a refusal in the server's log every second
	// for as long as the tab stays open.
	const calls = `performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/v1/listeners")).length`
	asked, err := chromedp.Run(step, chromedp.Evaluate[int](calls))
	require.NoError(t, err)
	require.Never(t, func() bool {
		n, err := chromedp.Run(step, chromedp.Evaluate[int](calls))
		return err != nil || n != asked
	}, 2500*time.Millisecond, 100*time.Millisecond, "the page calls again before it has a token (%d calls when it asked)", asked)

	require.NoError(t, chromedp.Do(step,
		chromedp.SendKeys(chromedp.ID("token"), "page-test-token\u20ac"),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.ID("token")),
	), "a token the browser cannot send is asked for again")
	kept, err := chromedp.Run(step, chromedp.Evaluate[bool](`sessionStorage.getItem("acceptgate-token") !== null`))
	require.NoError(t, err)
	assert.False(t, kept, "the tab does not keep it")
	require.NoError(t, chromedp.Do(step,
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.CSS(`section[data-gate="http"] .state.accepting`)),
	), "then the right token works")
}

// TestAStrangerCannotTakeLocalhostFromTheAdminPage: with the admin API on
// 127.0.0.1:N, a browser opening http://localhost:N/ tries [::1]:N too
// (Chromium first), so another local user listening there would get the
// page and the token typed into it. serve keeps that address: nobody else
// can listen on it, and the page at localhost:N reaches the real API.
func TestAStrangerCannotTakeLocalhostFromTheAdminPage(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no ::1 here, nothing to take: %v", err)
	} else {
		ln.Close()
	}
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	const token = "localhost-test-token-0123456789"
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0", "--token-file", writeToken(t, token, 0o600))
	u, err := url.Parse(srv.admin)
	require.NoError(t, err)
	port := u.Port()

	stranger, err := net.Listen("tcp", "[::1]:"+port)
	if err == nil {
		stranger.Close()
	}
	require.ErrorIs(t, err, syscall.EADDRINUSE, "a stranger cannot listen on [::1]:%s", port)

	tab := headless(t, ctx)
	step, stepCancel := context.WithTimeout(tab, patience)
	defer stepCancel()
	require.NoError(t, chromedp.Do(step,
		chromedp.Navigate("http://localhost:"+port+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.CSS(`section[data-gate="http"] .state.accepting`)),
	), "the page at localhost reaches the API, which takes its token")
	assert.Equal(t, "accepting", apiState(t, ctx, srv.admin, token))
}

// screenshot queues more clients, a few seconds apart, so that the chart
// shows the queue filling, and saves the page as a PNG at path. Its clients
// are served when the test resumes the gate.
func screenshot(t *testing.T, tab context.Context, addr, path string) {
	t.Helper()
	for i := 2; i <= 12; i++ {
		c, err := net.DialTimeout("tcp", addr, patience)
		require.NoError(t, err)
		defer c.Close()
		step, cancel := context.WithTimeout(tab, patience)
		err = chromedp.Do(step,
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`section[data-gate="http"][data-queued="%d"]`, i))),
			chromedp.Sleep(2*time.Second)) // lets the chart draw a step, for the picture only
		cancel()
		require.NoError(t, err)
	}
	step, cancel := context.WithTimeout(tab, patience)
	defer cancel()
	png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(abs, png, 0o644))
	t.Logf("screenshot saved to %s", abs)
}

// TestAnotherSitesPageCannotDriveTheAdminAPI opens, in the same headless
// Chromium, a page of another origin that tries what a hostile site would
// against an admin API without a token on loopback: a simple POST (no
// preflight) to pause, and a read of the gates. The POST is refused by the
// cross-origin check, the read gives the page nothing; the admin page of
// the API's own origin, in the same browser, pauses the gate.
func TestAnotherSitesPageCannotDriveTheAdminAPI(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html><title>another site</title>")
	}))
	defer other.Close()
	tab := headless(t, ctx)
	step, stepCancel := context.WithTimeout(tab, patience)
	defer stepCancel()

	require.NoError(t, chromedp.Do(step, chromedp.Navigate(other.URL)))
	sent, err := chromedp.Run(step, chromedp.Evaluate[string](`fetch(`+strconv.Quote(srv.admin+"/v1/pause")+`,
		{method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"})
		.then(() => "sent", (e) => "failed: " + e)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	t.Logf("the other site's POST: %s", sent)
	read, err := chromedp.Run(step, chromedp.Evaluate[string](`fetch(`+strconv.Quote(srv.admin+"/v1/listeners")+`)
		.then((r) => r.text(), (e) => "refused: " + e)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.NotContains(t, read, `"accepted"`, "another site cannot read the gates")
	assert.Equal(t, "accepting", apiState(t, ctx, srv.admin, ""), "another site's POST changed nothing")

	require.NoError(t, chromedp.Do(step,
		chromedp.Navigate(srv.admin+"/"),
		chromedp.Click(chromedp.CSS(`section[data-gate="http"] button.pause`)),
		chromedp.WaitVisible(chromedp.CSS(`section[data-gate="http"] .state.paused`))))
	assert.Equal(t, "paused", apiState(t, ctx, srv.admin, ""), "the API's own page may")
}

// TestAnotherSiteCannotFrameTheAdminPage loads the admin page in an iframe
// of another origin, as a page that would trick clicks on its buttons does:
// the browser refuses to show it there (frame-ancestors 'none').
func TestAnotherSiteCannotFrameTheAdminPage(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><title>another site</title><iframe src="`+srv.admin+`/"></iframe>`)
	}))
	defer other.Close()
	tab := headless(t, ctx)
	step, stepCancel := context.WithTimeout(tab, patience)
	defer stepCancel()
	require.NoError(t, chromedp.Do(step, chromedp.Navigate(other.URL)))

	frameTree := func(ctx context.Context, tg *chromedp.Target) (page.GetFrameTreeResult, error) {
		return cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
	}
	var framed *cdp.Frame
	require.Eventually(t, func() bool {
		tree, err := chromedp.Run(step, frameTree)
		require.NoError(t, err)
		if len(tree.FrameTree.ChildFrames) != 1 {
			return false
		}
		framed = tree.FrameTree.ChildFrames[0].Frame
		return framed.URL != "" && framed.URL != "about:blank"
	}, patience, 10*time.Millisecond, "the iframe has loaded something")
	assert.Equal(t, srv.admin+"/", framed.UnreachableURL, "the admin page was refused in the frame")
	assert.NotEqual(t, srv.admin+"/", framed.URL, "the frame does not show the admin page")
}
