package acceptgate_test

import (
	"bufio"
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
	server := l.Addr().(*net.TCPAddr).Port
	client := c.LocalAddr().(*net.TCPAddr).Port
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		file, err := os.Open(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || !strings.Contains(fields[1], ":") {
				continue
			}
			if port(fields[1]) == server && port(fields[2]) == client {
				st, _ := strconv.ParseInt(fields[3], 16, 32)
				file.Close()
				return int(st), true
			}
		}
		file.Close()
	}
	return 0, false
}

func port(hexAddr string) int {
	p, _ := strconv.ParseInt(hexAddr[strings.LastIndexByte(hexAddr, ':')+1:], 16, 32)
	return int(p)
}

// waitGaveUpSeen waits until the kernel has taken in the client's FIN or RST
// on l's side. A unix socket's peer is told within close itself.
func waitGaveUpSeen(t *testing.T, l *acceptgate.Listener, c net.Conn, reset bool) {
	t.Helper()
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		return
	}
	eventually(t, func() bool {
		st, found := serverSideTCP(t, l, c)
		if reset {
			return !found
		}
		return found && st == 8
	}, "server side of %v closed (reset=%v)", c.LocalAddr(), reset)
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
