package acceptgate_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/wire"
	"github.com/acceptgate/acceptgate/listener"
)

// The kernel does not say which member of an SO_REUSEPORT group a
// handshake under way belongs to: a member that rejects while another has
// clients in the middle of connecting never disturbs them, and waits for
// them (at most SettleTime) unless net.ipv4.tcp_migrate_req=1 spares it
// the wait. Here the other member's client is a TCP_DEFER_ACCEPT one that
// has sent nothing, which stays a request socket for seconds. The test
// takes the host's tcp_migrate_req as it is.
func TestRejectingGroupMemberLeavesTheOthersHandshakesAlone(t *testing.T) {
	deferred := acceptgate.WithSocketConfig(listener.Config{ReusePort: true, DeferAccept: 5 * time.Second})
	a := listen(t, "tcp4", "127.0.0.1:0", deferred)
	client := dial(t, a.Addr()) // a is alone in the group: the client is a's
	n, err := backlog.Handshakes(a)
	require.NoError(t, err)
	require.Equal(t, 1, n, "connected, and still a request socket on a")

	b := listen(t, "tcp4", a.Addr().String(), deferred)
	serveEcho(t, b)
	start := time.Now()
	require.NoError(t, b.Reject())
	took := time.Since(start)
	if migratesRequests(t) {
		assert.Less(t, took, acceptgate.SettleTime()/2, "b waited for handshakes the kernel would hand on")
	} else {
		assert.GreaterOrEqual(t, took, acceptgate.SettleTime(), "b did not wait for a handshake that may have been its own")
	}
	assert.Equal(t, acceptgate.Rejecting, b.State())

	_, err = io.WriteString(client, "late\n")
	require.NoError(t, err)
	r := receive(t, acceptAsync(t, a))
	require.NoError(t, r.err)
	defer r.c.Close()
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "late\n", line)
	_, err = io.WriteString(r.c, "served\n")
	require.NoError(t, err)
	got, err := bufio.NewReader(client).ReadString('\n')
	require.NoError(t, err, "a's client was reset")
	assert.Equal(t, "served\n", got)

	require.NoError(t, b.Resume())
}

// migratesRequests reports the tcp_migrate_req of the test's network
// namespace.
func migratesRequests(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	if err != nil {
		t.Skipf("cannot read tcp_migrate_req: %v", err)
	}
	return len(b) > 0 && b[0] == '1'
}

// A member that rejects while it has clients of its own in the middle of
// connecting: with net.ipv4.tcp_migrate_req it stops at once and the kernel
// hands them to a member that still listens, which serves them; without
// it, the member waits for them, up to SettleTime, and a client still
// connecting past that is reset. The test sets the sysctl in a network
// namespace of its own, a round trip away from its clients.
func TestRejectingGroupMemberHandsOnOrWaitsForItsOwnHandshakes(t *testing.T) {
	for _, tc := range []struct {
		migrate string
		served  bool
	}{
		{migrate: "1", served: true},
		{migrate: "0", served: false},
	} {
		t.Run("tcp_migrate_req="+tc.migrate, func(t *testing.T) {
			w := newWire(t, false)
			cfg := listener.Config{ReusePort: true, DeferAccept: 5 * time.Second}
			var a, b *acceptgate.Listener
			require.NoError(t, inServer(t, w, func() (err error) {
				if err := os.WriteFile("/proc/sys/net/ipv4/tcp_migrate_req", []byte(tc.migrate), 0); err != nil {
					return err
				}
				b, err = acceptgate.Listen(context.Background(), "tcp4", wire.ServerIP+":0", acceptgate.WithSocketConfig(cfg))
				return err
			}))
			t.Cleanup(func() { b.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			client, err := w.Dial(ctx, "tcp4", b.Addr().String()) // b is alone in the group: the client is b's
			require.NoError(t, err)
			defer client.Close()
			eventually(t, func() bool {
				var n int
				err := inServer(t, w, func() (err error) { n, err = backlog.Handshakes(b); return err })
				return err == nil && n == 1
			}, "the client's request socket on b")
			require.NoError(t, inServer(t, w, func() (err error) {
				a, err = acceptgate.Listen(context.Background(), "tcp4", b.Addr().String(), acceptgate.WithSocketConfig(cfg))
				return err
			}))
			t.Cleanup(func() { a.Close() })
			fromA := acceptAsync(t, a)

			start := time.Now()
			require.NoError(t, inServer(t, w, b.Reject))
			if tc.served {
				assert.Less(t, time.Since(start), acceptgate.SettleTime()/2, "b waited for handshakes the kernel hands to a")
			} else {
				assert.GreaterOrEqual(t, time.Since(start), acceptgate.SettleTime(), "b did not wait for its own handshake")
			}

			_, err = io.WriteString(client, "late\n")
			require.NoError(t, err)
			if !tc.served {
				_, err := bufio.NewReader(client).ReadString('\n')
				assert.ErrorIs(t, err, syscall.ECONNRESET, "without migration the kernel resets a handshake b waited for in vain")
				return
			}
			r := receive(t, fromA)
			require.NoError(t, r.err)
			defer r.c.Close()
			line, err := bufio.NewReader(r.c).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "late\n", line)
			_, err = io.WriteString(r.c, "served\n")
			require.NoError(t, err)
			got, err := bufio.NewReader(client).ReadString('\n')
			require.NoError(t, err, "b's client was reset")
			assert.Equal(t, "served\n", got)
		})
	}
}
