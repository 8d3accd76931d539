//go:build unix

package handoff

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seqpacketPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	require.NoError(t, err)
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		require.NoError(t, err)
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { conns[i].Close() })
	}
	return conns[0], conns[1]
}

// After the go, a word that came before the wait was cut short (by the
// context, or the time limit) decides, as if it had been read in time: a
// late accepting hands over rather than being answered with a rollback.
func TestAWordQueuedAfterTheGoCountsWhenTheWaitEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		peer   func(c *net.UnixConn)
		cancel bool
		check  func(t *testing.T, err error)
	}{
		{"accepting, context ended", func(c *net.UnixConn) { c.Write([]byte(`{"op":"accepting"}`)) }, true,
			func(t *testing.T, err error) { assert.NoError(t, err) }},
		{"accepting, limit passed", func(c *net.UnixConn) { c.Write([]byte(`{"op":"accepting"}`)) }, false,
			func(t *testing.T, err error) { assert.NoError(t, err) }},
		{"refusal", func(c *net.UnixConn) { c.Write([]byte(`{"op":"error","error":"stepped back"}`)) }, true,
			func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrRefused) }},
		{"hang-up", func(c *net.UnixConn) { c.Close() }, true,
			func(t *testing.T, err error) { assert.ErrorIs(t, err, io.EOF) }},
		{"nothing", func(*net.UnixConn) {}, true,
			func(t *testing.T, err error) { assert.ErrorIs(t, err, context.Canceled) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := seqpacketPair(t)
			tc.peer(b)
			w := &conn{c: a, timeout: time.Hour}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			limit := time.Now().Add(time.Hour)
			if tc.cancel {
				cancel()
			} else {
				// Past already: the deadline the read sets has passed too,
				// and a read with a past deadline fails before it begins.
				w.timeout = -time.Second
				limit = time.Now()
			}
			stop := w.watch(ctx)
			defer stop()
			tc.check(t, w.awaitAfterGo(opAccepting, limit))
		})
	}
}
