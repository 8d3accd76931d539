//go:build unix

package upgrade

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/upgradetest"
)

// patience bounds every wait; nothing waits that long unless something broke.
const patience = 20 * time.Second

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	upgradetest.Eventually(t, cond, patience, what)
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "up")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func listenNotify(t *testing.T, addr string) *upgradetest.Notifications {
	return upgradetest.ListenNotify(t, addr)
}

// get asks url on a new connection and returns the pid in the answer.
func get(url string) (int, error) {
	c := upgradetest.NewClient(patience)
	defer c.CloseIdleConnections()
	return upgradetest.Get(c, url)
}

// startLoad asks url from loops goroutines, a new connection per request,
// until End; bounded in count and time.
func startLoad(url string, loops int) *upgradetest.Load {
	return upgradetest.StartLoad(url, loops, 200_000, patience)
}

// generation is this test process as a server's generation: an Upgrader
// with one gate on loopback, served by an http.Server answering pid=.
type generation struct {
	u    *Upgrader
	gate *acceptgate.Listener
	url  string
	done chan struct{}
}

// startGeneration makes this process a generation whose next one is the
// test binary in mode (see child), with the environment the test set.
func startGeneration(t *testing.T, mode string, opts Options) *generation {
	t.Helper()
	t.Setenv(modeEnv, mode)
	t.Setenv(addrEnv, "127.0.0.1:0")
	u, err := New(opts)
	require.NoError(t, err)
	g, err := u.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
	})}
	gen := &generation{u: u, gate: g, url: "http://" + g.Addr().String() + "/", done: make(chan struct{})}
	go func() { defer close(gen.done); srv.Serve(g) }()
	t.Cleanup(func() {
		u.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		srv.SetKeepAlivesEnabled(false)
		g.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-gen.done
	})
	return gen
}

// servesHere checks that this process answers.
func (g *generation) servesHere(t *testing.T) {
	t.Helper()
	pid, err := get(g.url)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)
	assert.Equal(t, acceptgate.Accepting, g.gate.State())
}

// reportLine waits for a line of the report file starting with prefix.
func reportLine(t *testing.T, path, prefix string) string {
	t.Helper()
	var found string
	eventually(t, func() bool {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				found = l
				return true
			}
		}
		return false
	}, fmt.Sprintf("a report line %q in %s", prefix, path))
	return found
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
