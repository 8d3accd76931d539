package sockets_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func TestStopListeningAndRelistenKeepThePort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux listens again on a stopped descriptor")
	}
	ln, err := listener.Config{Backlog: 5}.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	queued, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer queued.Close()

	taken, err := sockets.AcceptQueued(ln)
	require.NoError(t, err)
	require.Len(t, taken, 1)
	assert.Equal(t, queued.LocalAddr().String(), taken[0].RemoteAddr().String())
	taken[0].Close()

	require.NoError(t, sockets.StopListening(ln))
	_, err = net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	require.NoError(t, sockets.Relisten(ln, 5))
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	require.NoError(t, err, "listening again on the original port")
	c.Close()
	q, err := backlog.Of(ln.(*net.TCPListener))
	require.NoError(t, err)
	assert.Equal(t, 5, q.Limit)
}

func TestStopListeningRefusesUnixSockets(t *testing.T) {
	ln, err := listener.Config{}.Listen(ctx, "unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	defer ln.Close()
	assert.ErrorIs(t, sockets.StopListening(ln), errors.ErrUnsupported)
}

func TestFenceRefusesNewClientsAndKeepsTheQueue(t *testing.T) {
	ln, err := listener.Config{}.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	queued, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer queued.Close()

	unfence, err := sockets.Fence(ln)
	if err != nil {
		t.Skip("cannot fence here:", err)
	}
	_, err = net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "refused while fenced")
	taken, err := sockets.AcceptQueued(ln)
	require.NoError(t, err)
	require.Len(t, taken, 1, "the queue survived the fence")
	taken[0].Close()

	if err := unfence(); errors.Is(err, syscall.EPERM) {
		t.Skip("lifting a fence needs CAP_NET_RAW")
	} else {
		require.NoError(t, err)
	}
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), time.Second)
	require.NoError(t, err, "accepting again once unfenced")
	c.Close()
}

func TestFenceRefusesUnixSockets(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	require.NoError(t, err)
	defer ln.Close()
	_, err = sockets.Fence(ln)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
