//go:build unix

package upgrade

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A generation started by other means than Upgrade takes the sockets at
// OfferPath (TakeoverPath), tells systemd its own MAINPID, and offers them
// at the same path in turn.
func TestTakeoverAtTheOfferPath(t *testing.T) {
	dir := shortDir(t)
	n := listenNotify(t, filepath.Join(dir, "notify"))
	t.Setenv("NOTIFY_SOCKET", n.Addr)
	path := filepath.Join(dir, "upgrade.sock")
	old := startGeneration(t, "serve", Options{OfferPath: path})
	require.NoError(t, old.u.Ready())
	l := startLoad(old.url, 2)

	next, err := New(Options{TakeoverPath: path, OfferPath: path})
	require.NoError(t, err)
	defer next.Stop()
	g, err := next.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.Equal(t, old.gate.Addr().String(), g.Addr().String(), "the same socket")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
	})}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(g) }()
	defer func() { srv.Close(); <-served }()
	require.NoError(t, next.Ready())
	<-old.u.Exit()
	l.End(t)
	assert.ErrorIs(t, old.u.Upgrade(), ErrStopped)
	assert.Equal(t, []string{"READY=1", fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid())}, n.WaitFor(t, 2, patience))
	_, err = os.Stat(path)
	assert.NoError(t, err, "the next generation offers at the same path")
}
