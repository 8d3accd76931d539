//go:build unix

package handoff_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// An offer closed, or whose Serve's context ends, after it sent the sockets
// rolls back and says so, although the context that ends the exchange is
// done: the taker must hear a refusal, not a connection that ends without a
// word, which it would take for the old process's death and serve the
// sockets the old process serves on too.
func TestARollbackOnCloseOrCancelIsSaid(t *testing.T) {
	for _, how := range []struct {
		name string
		want error
	}{{"close", net.ErrClosed}, {"cancel", context.Canceled}} {
		t.Run(how.name, func(t *testing.T) {
			old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer old.Close()
			stopOld := serveLines(old, "old")
			defer stopOld()
			path := filepath.Join(shortDir(t), "handoff.sock")
			o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": old})
			require.NoError(t, err)
			defer o.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- o.Serve(ctx) }()

			tk, err := handoff.Take(context.Background(), path)
			require.NoError(t, err)
			g := tk.Listeners()["g"]
			defer g.Close()
			if how.name == "close" {
				require.NoError(t, o.Close())
			} else {
				cancel()
			}
			select {
			case err := <-served:
				assert.ErrorIs(t, err, how.want)
			case <-time.After(patience):
				t.Fatal("Serve did not return")
			}
			err = tk.Commit(context.Background())
			assert.ErrorIs(t, err, handoff.ErrRefused, "the old process said it rolls back")
			assert.Equal(t, acceptgate.Closed, g.State(), "the taker let go: one process serves")
			assert.Equal(t, acceptgate.Accepting, old.State())
			assertServedBy(t, "old", "tcp", old.Addr().String())
		})
	}
}
