package listener_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/listener"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func TestListenRefusesUnknownNetwork(t *testing.T) {
	_, err := listener.Config{}.Listen(ctx, "udp", "127.0.0.1:0")
	var unknown net.UnknownNetworkError
	assert.ErrorAs(t, err, &unknown)
}

func TestReusePortSharesTheAddress(t *testing.T) {
	cfg := listener.Config{ReusePort: true}
	a, err := cfg.Listen(ctx, "tcp4", "127.0.0.1:0")
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	require.NoError(t, err)
	defer a.Close()
	b, err := cfg.Listen(ctx, "tcp4", a.Addr().String())
	require.NoError(t, err, "second socket on the same port")
	defer b.Close()

	_, err = listener.Config{}.Listen(ctx, "tcp4", a.Addr().String())
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "a socket without SO_REUSEPORT may not join")
}

func TestBacklogIsTheOneAskedFor(t *testing.T) {
	ln, err := listener.Config{Backlog: 7}.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	q, err := backlog.Of(ln.(*net.TCPListener))
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	require.NoError(t, err)
	assert.Equal(t, 7, q.Limit)
}

func TestRebindTakesTheSameAddressBack(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"tcp4", "127.0.0.1:0"},
		{"unix", filepath.Join(t.TempDir(), "s")},
	} {
		t.Run(tc.network, func(t *testing.T) {
			ln, err := listener.Config{}.Listen(ctx, tc.network, tc.address)
			require.NoError(t, err)
			addr := ln.Addr()
			if ul, ok := ln.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false) // leave a stale file for Rebind to clear
			}
			require.NoError(t, ln.Close())
			again, err := listener.Config{}.Rebind(ctx, addr)
			require.NoError(t, err)
			defer again.Close()
			assert.Equal(t, addr.String(), again.Addr().String())
		})
	}
}

func TestRebindLeavesALiveUnixSocketAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	live, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer live.Close()
	_, err = listener.Config{}.Rebind(ctx, live.Addr())
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
}

func TestLinuxOnlyOptionsOnAUnixSocketAreRefused(t *testing.T) {
	_, err := listener.Config{FastOpen: 16}.Listen(ctx, "unix", filepath.Join(t.TempDir(), "s"))
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
