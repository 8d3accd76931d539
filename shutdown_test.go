package acceptgate_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A Shutdown whose context ends while a tracked connection is open closes it
// and says so with a *ForcedCloseError, which still matches the context's
// error: the caller can tell "done, by force" from a step that failed.
func TestShutdownAtItsDeadlineIsForcedNotFailed(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		t.Run(nw.name, func(t *testing.T) {
			l := listen(t, nw.name, nw.address(t), acceptgate.WithTracking())
			ch := acceptAsync(t, l)
			client := dial(t, l.Addr())
			r := receive(t, ch)
			require.NoError(t, r.err)

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := l.Shutdown(ctx)
			var fe *acceptgate.ForcedCloseError
			require.True(t, errors.As(err, &fe), "Shutdown's error %v is a *ForcedCloseError", err)
			assert.Equal(t, 1, fe.Conns, "it closed the one connection left")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "closed 1 connections")

			require.NoError(t, client.SetReadDeadline(time.Now().Add(patience)))
			_, err = client.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "the server side was closed")
			assert.EqualValues(t, 0, l.Stats().Active)
		})
	}
}

// A Shutdown that had nothing left to close when its context ended did its
// job without force and returns nil.
func TestShutdownWithNothingOpenReturnsNil(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.NoError(t, l.Shutdown(ctx))
}
