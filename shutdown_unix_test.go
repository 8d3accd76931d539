//go:build unix

package acceptgate_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// shutdownResult is what Shutdown returned, and how many tracked
// connections were still open when it did.
type shutdownResult struct {
	err    error
	active int64
}

// shutdownAsync calls l.Shutdown(ctx) in a goroutine and waits until it
// either returned or waits for the tracked connections.
func shutdownAsync(t *testing.T, ctx context.Context, l *acceptgate.Listener) (returned bool, done <-chan shutdownResult) {
	t.Helper()
	ch := make(chan shutdownResult, 1)
	go func() {
		err := l.Shutdown(ctx)
		ch <- shutdownResult{err, l.Stats().Active}
	}()
	var r shutdownResult
	eventually(t, func() bool {
		select {
		case r = <-ch:
			returned = true
			return true
		default:
		}
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "acceptgate.(*Listener).awaitTracked")
	}, "Shutdown returns or waits")
	if returned {
		ch <- r
	}
	return returned, ch
}

// rejectingWithATrackedConn returns a rejecting, tracking gate on network,
// a client and the server's side of its connection, with every step that
// closing that gate takes armed to fail: making a socket the gate did not
// create listen again for its other holders (TCP), giving a unix socket
// its path back.
func rejectingWithATrackedConn(t *testing.T, network string) (l *acceptgate.Listener, client, server net.Conn) {
	t.Helper()
	switch network {
	case "tcp4":
		if !onLinux {
			t.Skip("only Linux keeps a socket given to Wrap to listen again on Close")
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		l = acceptgate.Wrap(ln, acceptgate.WithTracking(), withFaults(t))
		t.Cleanup(func() { l.Close() })
	case "unix":
		l = listen(t, "unix", shortPath(t), acceptgate.WithTracking())
	}
	ch := acceptAsync(t, l)
	client = dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	server = r.c
	t.Cleanup(func() { server.Close() })
	require.NoError(t, l.Reject())
	for _, op := range []string{faults.Unfence, faults.Listen, faults.Rename} {
		arm(t, op, 1, syscall.EIO)
	}
	return l, client, server
}

// shortPath returns a unix socket path in a new temporary directory.
func shortPath(t *testing.T) string {
	return t.TempDir() + "/g.sock"
}

// Shutdown closes, waits for the tracked connections and closes the rest
// when ctx ends, also when a step of Close fails: a server that exits once
// Shutdown returns must not cut the requests in flight.
func TestShutdownWaitsAlsoWhenCloseFails(t *testing.T) {
	t.Parallel() // its faults are its own (arm), its sockets too
	for _, network := range []string{"tcp4", "unix"} {
		t.Run(network+"/waits", func(t *testing.T) {
			l, client, server := rejectingWithATrackedConn(t, network)
			returned, done := shutdownAsync(t, context.Background(), l)
			if returned {
				r := <-done
				t.Fatalf("Shutdown returned (%v) with %d tracked connections open", r.err, r.active)
			}
			assert.Equal(t, acceptgate.Closed, l.State())

			// The request in flight goes on and completes.
			_, err := client.Write([]byte("request"))
			require.NoError(t, err)
			require.NoError(t, server.SetReadDeadline(time.Now().Add(patience)))
			_, err = io.ReadFull(server, make([]byte, len("request")))
			require.NoError(t, err, "the tracked connection still serves")
			notYet(t, done, "Shutdown with a tracked connection open")

			require.NoError(t, server.Close())
			select {
			case r := <-done:
				assert.ErrorIs(t, r.err, syscall.EIO, "Close's error is reported")
				assert.NotErrorIs(t, r.err, context.Canceled)
				assert.Zero(t, r.active)
			case <-time.After(patience):
				t.Fatal("Shutdown did not return after the last connection closed")
			}
		})
		t.Run(network+"/ctx", func(t *testing.T) {
			l, client, _ := rejectingWithATrackedConn(t, network)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			returned, done := shutdownAsync(t, ctx, l)
			if returned {
				r := <-done
				t.Fatalf("Shutdown returned (%v) with %d tracked connections open", r.err, r.active)
			}
			cancel()
			select {
			case r := <-done:
				assert.ErrorIs(t, r.err, syscall.EIO, "Close's error is reported")
				assert.ErrorIs(t, r.err, context.Canceled, "and that ctx ended first")
				var fe *acceptgate.ForcedCloseError
				assert.False(t, errors.As(r.err, &fe), "a step failed: not told as a shutdown forced at its deadline")
				assert.Zero(t, r.active, "the connections left are closed")
			case <-time.After(patience):
				t.Fatal("Shutdown did not return when its context ended")
			}
			require.NoError(t, client.SetReadDeadline(time.Now().Add(patience)))
			_, err := client.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "the server side was closed")
		})
	}
}
