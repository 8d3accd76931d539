package control_test

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestReserveLocalhostHoldsThePortAcrossGenerations: an upgraded server
// serves its admin API on the socket the previous generation had, which
// ListenAdmin made with the other loopback family reserved. The new one
// reserves it again beside the old one, and when the old one exits and
// lets its reservation go, nobody else can take the port in between.
func TestReserveLocalhostHoldsThePortAcrossGenerations(t *testing.T) {
	needIPv6Loopback(t)
	for _, tc := range []struct{ listen, other string }{
		{listen: "127.0.0.1:0", other: "::1"},
		{listen: "[::1]:0", other: "127.0.0.1"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			h, _ := fixture(t)
			old, err := control.ListenAdmin(context.Background(), tc.listen, h, nil)
			require.NoError(t, err)
			defer old.Close()
			other := net.JoinHostPort(tc.other, strconv.Itoa(old.Addr().(*net.TCPAddr).Port))

			next, err := control.ReserveLocalhost(old.Addr())
			require.NoError(t, err, "the next generation reserves beside the old one")
			require.NoError(t, old.Close(), "the old generation exits")
			assert.ErrorIs(t, stranger(other), syscall.EADDRINUSE, "another user cannot listen on %s", other)
			c, err := net.Dial("tcp", other)
			if c != nil {
				c.Close()
			}
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "%s refuses at once", other)

			require.NoError(t, next.Close())
			assert.NoError(t, stranger(other), "Close frees %s", other)
		})
	}
}

// TestReserveLocalhostLeavesOtherAddressesAlone: only the two localhost
// addresses have a twin to reserve.
func TestReserveLocalhostLeavesOtherAddressesAlone(t *testing.T) {
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 1},
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1},
		&net.UnixAddr{Name: "/run/admin.sock", Net: "unix"},
	} {
		r, err := control.ReserveLocalhost(addr)
		require.NoError(t, err, "%v", addr)
		assert.NoError(t, r.Close())
	}
}
