//go:build unix

package control_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/control"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// needIPv6Loopback skips a test on a host without ::1, where there is no
// other family to take.
func needIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no ::1 here: %v", err)
	}
	ln.Close()
}

// stranger listens at addr as another local user would try to: plainly,
// and then with SO_REUSEADDR and SO_REUSEPORT, which let a socket share a
// port with sockets of the same user that ask for it too. The second try is
// made from a socket of another user (uid 65534) where the test may make
// one, as root; otherwise only the first.
func stranger(addr string) error {
	for _, reuse := range []bool{false, true} {
		if reuse && os.Geteuid() != 0 {
			break
		}
		ln, err := listenAs(reuse, addr)
		if err == nil {
			ln.Close()
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
	return syscall.EADDRINUSE
}

// listenAs listens at addr, with reuse from a socket owned by uid 65534:
// the owner of a socket is the file system uid of the thread that makes
// it, which this thread takes for the one call.
func listenAs(reuse bool, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if reuse {
				serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
			}
		})
		return errors.Join(err, serr)
	}}
	if reuse {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		setfsuid(65534)
		defer setfsuid(0)
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

// TestListenAdminReservesTheOtherLoopback: an admin API on 127.0.0.1:N
// leaves nobody [::1]:N, where a browser opening http://localhost:N/ goes
// first, and one on [::1]:N leaves nobody 127.0.0.1:N: whoever listened
// there would get the page and the token typed into it. The other address
// refuses clients at once, so that a client of localhost:N that tries it
// first goes on to the API (the browser test sees Chromium do so); Close
// frees it.
func TestListenAdminReservesTheOtherLoopback(t *testing.T) {
	needIPv6Loopback(t)
	for _, tc := range []struct{ listen, other string }{
		{listen: "127.0.0.1:0", other: "::1"},
		{listen: "[::1]:0", other: "127.0.0.1"},
		{listen: "localhost:0", other: "::1"}, // Go listens on 127.0.0.1 for it
	} {
		t.Run(tc.listen, func(t *testing.T) {
			h, _ := fixture(t)
			ln, err := control.ListenAdmin(context.Background(), tc.listen, h, nil)
			require.NoError(t, err)
			defer ln.Close()
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			other := net.JoinHostPort(tc.other, port)

			assert.ErrorIs(t, stranger(other), syscall.EADDRINUSE, "another user cannot listen on %s", other)
			c, err := net.DialTimeout("tcp", other, 5*time.Second)
			if c != nil {
				c.Close()
			}
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "%s refuses at once", other)

			srv := &http.Server{Handler: h}
			go srv.Serve(ln)
			defer srv.Close()
			client := &http.Client{Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			resp, err := client.Get("http://" + ln.Addr().String() + "/readyz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			require.NoError(t, srv.Close())
			assert.NoError(t, stranger(other), "Close frees %s", other)
		})
	}
}

// TestListenAdminRefusesWhenTheOtherLoopbackIsTaken: if someone listens on
// the other loopback address at the port asked for, ListenAdmin fails with
// EADDRINUSE and leaves nothing listening, rather than serve an API that
// localhost may not reach.
func TestListenAdminRefusesWhenTheOtherLoopbackIsTaken(t *testing.T) {
	needIPv6Loopback(t)
	for _, tc := range []struct{ taken, listen string }{
		{taken: "[::1]:0", listen: "127.0.0.1"},
		{taken: "127.0.0.1:0", listen: "::1"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			taken, err := net.Listen("tcp", tc.taken)
			require.NoError(t, err)
			defer taken.Close()
			addr := net.JoinHostPort(tc.listen, strconv.Itoa(taken.Addr().(*net.TCPAddr).Port))
			ln, err := control.ListenAdmin(context.Background(), addr, control.NewHandler(quiet), nil)
			if ln != nil {
				ln.Close()
			}
			require.ErrorIs(t, err, syscall.EADDRINUSE)
			assert.ErrorContains(t, err, "localhost")
			assert.NoError(t, stranger(addr), "nothing is left listening on %s", addr)
		})
	}
}

// TestListenAdminOnPortZeroTriesAnotherPort: when the port the kernel gave
// is taken on the other loopback family, ListenAdmin for port 0 tries other
// ports, a bounded number of times, rather than give up at once; for a
// port asked for by number it tries that one only.
func TestListenAdminOnPortZeroTriesAnotherPort(t *testing.T) {
	needIPv6Loopback(t)
	disarm := faults.Arm(faults.Reserve, 1, syscall.EADDRINUSE)
	_, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", control.NewHandler(quiet), nil)
	tries := disarm()
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "every port taken on ::1")
	assert.Greater(t, tries, 1, "port 0 tries another port")
	assert.LessOrEqual(t, tries, 16, "a bounded number of times")

	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	free.Close()
	disarm = faults.Arm(faults.Reserve, 1, syscall.EADDRINUSE)
	_, err = control.ListenAdmin(context.Background(), addr, control.NewHandler(quiet), nil)
	assert.Equal(t, 1, disarm(), "a port asked for is tried once")
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.NoError(t, stranger(addr), "and left free")
}

// TestListenAdminWithoutTheOtherLoopback: on a host where the other
// loopback address does not exist (IPv6 off: bind says EADDRNOTAVAIL),
// nobody can listen there, and ListenAdmin serves with nothing reserved.
func TestListenAdminWithoutTheOtherLoopback(t *testing.T) {
	disarm := faults.Arm(faults.Reserve, 1, syscall.EADDRNOTAVAIL)
	ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", control.NewHandler(quiet), nil)
	assert.Equal(t, 1, disarm())
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	require.NoError(t, err, "it listens")
	c.Close()
}
