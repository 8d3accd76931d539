package acceptgate_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
)

// kernelQueue returns how many connections wait in l's accept queue, as the
// kernel counts them, and whether it could tell.
func kernelQueue(t *testing.T, l *acceptgate.Listener) (int, bool) {
	t.Helper()
	if l.Addr().Network() != "tcp" {
		return 0, false
	}
	rc, err := l.SyscallConn()
	require.NoError(t, err)
	var info *unix.TCPInfo
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}))
	require.NoError(t, serr)
	return int(info.Unacked), true
}
