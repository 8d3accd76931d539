package acceptgate_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// serverSideTCP returns the TCP state (as in /proc/net/tcp: 1 ESTABLISHED,
// 8 CLOSE_WAIT) of l's side of client c, and whether the kernel still has it
// in its connection table. A reset connection leaves the table at once,
// though it stays in the accept queue.
func serverSideTCP(t *testing.T, l *acceptgate.Listener, c net.Conn) (state int, found bool) {
	t.Helper()
	server, client := c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr)
	file := "/proc/net/tcp"
	if server.IP.To4() == nil {
		file = "/proc/net/tcp6"
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	local, remote := procAddr(server), procAddr(client)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == local && f[2] == remote {
			st, err := strconv.ParseInt(f[3], 16, 32)
			require.NoError(t, err)
			return int(st), true
		}
	}
	return 0, false
}

// procAddr writes a as /proc/net/tcp does: the address as 32-bit words in
// the machine's byte order, then the port, in hexadecimal.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		ip = a.IP.To16()
	}
	var sb strings.Builder
	for i := 0; i < len(ip); i += 4 {
		fmt.Fprintf(&sb, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	fmt.Fprintf(&sb, ":%04X", a.Port)
	return sb.String()
}

// lazy formats when printed, for a failure message about the last try.
type lazy func() string

func (f lazy) String() string { return f() }

// waitGaveUpSeen waits until the kernel has taken in the client's FIN or RST
// on l's side. A unix socket's peer is told within close itself.
func waitGaveUpSeen(t *testing.T, l *acceptgate.Listener, c net.Conn, reset bool) {
	t.Helper()
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		return
	}
	var st int
	var found bool
	eventually(t, func() bool {
		st, found = serverSideTCP(t, l, c)
		if reset {
			return !found
		}
		return found && st == 8
	}, "server side of %v closed (reset=%v); last seen: %v", c.LocalAddr(), reset, lazy(func() string { return fmt.Sprintf("state %d, found %v", st, found) }))
}

// waitServerSideClosed waits until l's side of the client's connection has
// been closed, so that the gate did not keep a skipped one open.
func waitServerSideClosed(t *testing.T, l *acceptgate.Listener, c net.Conn) {
	t.Helper()
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		return
	}
	eventually(t, func() bool { st, found := serverSideTCP(t, l, c); return !found || st != 8 }, "skipped connection from %v closed", c.LocalAddr())
}
