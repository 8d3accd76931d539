package backlog_test

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/backlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func linuxOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue is read on Linux only")
	}
}

func listenTCP(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// ssQueue asks ss for the listener's Recv-Q and Send-Q.
func ssQueue(t *testing.T, addr net.Addr) (backlog.Queue, bool) {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		return backlog.Queue{}, false
	}
	port := addr.(*net.TCPAddr).Port
	out, err := exec.Command("ss", "-Hlnt", fmt.Sprintf("sport = :%d", port)).Output()
	require.NoError(t, err)
	fields := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(fields), 3, "ss printed %q", out)
	recvQ, err := strconv.Atoi(fields[1])
	require.NoError(t, err)
	sendQ, err := strconv.Atoi(fields[2])
	require.NoError(t, err)
	return backlog.Queue{Len: recvQ, Limit: sendQ}, true
}

func TestQueueCountsWaitingClientsAsSsDoes(t *testing.T) {
	linuxOnly(t)
	ln := listenTCP(t)
	require.NoError(t, backlog.Resize(ln, 8))
	for want := 0; want <= 5; want++ {
		if want > 0 {
			c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
			require.NoError(t, err)
			defer c.Close()
		}
		require.Eventually(t, func() bool {
			q, err := backlog.Of(ln)
			return err == nil && q.Len == want
		}, 5*time.Second, time.Millisecond, "%d clients queued", want)
		q, err := backlog.Of(ln)
		require.NoError(t, err)
		assert.Equal(t, backlog.Queue{Len: want, Limit: 8}, q)
		if ss, ok := ssQueue(t, ln.Addr()); ok {
			assert.Equal(t, q, ss, "ss -lnt sees the same queue")
		}
	}
}

func TestResizeChangesTheLimit(t *testing.T) {
	linuxOnly(t)
	ln := listenTCP(t)
	for _, size := range []int{1, 16, 128} {
		require.NoError(t, backlog.Resize(ln, size))
		q, err := backlog.Of(ln)
		require.NoError(t, err)
		assert.Equal(t, size, q.Limit)
		if ss, ok := ssQueue(t, ln.Addr()); ok {
			assert.Equal(t, size, ss.Limit)
		}
	}
}

func TestResizeAboveTheSystemMaximumIsRefused(t *testing.T) {
	linuxOnly(t)
	ln := listenTCP(t)
	require.NoError(t, backlog.Resize(ln, 10))
	max, err := backlog.SystemMax()
	require.NoError(t, err)
	err = backlog.Resize(ln, max+1)
	assert.ErrorIs(t, err, backlog.ErrAboveMax)
	q, err := backlog.Of(ln)
	require.NoError(t, err)
	assert.Equal(t, 10, q.Limit, "unchanged")
	assert.Error(t, backlog.Resize(ln, 0))
}

func TestSystemMaxIsSomaxconn(t *testing.T) {
	linuxOnly(t)
	out, err := exec.Command("sysctl", "-n", "net.core.somaxconn").Output()
	if err != nil {
		t.Skip("no sysctl:", err)
	}
	want, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	max, err := backlog.SystemMax()
	require.NoError(t, err)
	assert.Equal(t, want, max)
}

// ssUnixQueue asks ss for a unix listener's Recv-Q and Send-Q.
func ssUnixQueue(t *testing.T, path string) (backlog.Queue, bool) {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		return backlog.Queue{}, false
	}
	out, err := exec.Command("ss", "-Hxl").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 && fields[4] == path {
			recvQ, err := strconv.Atoi(fields[2])
			require.NoError(t, err)
			sendQ, err := strconv.Atoi(fields[3])
			require.NoError(t, err)
			return backlog.Queue{Len: recvQ, Limit: sendQ}, true
		}
	}
	t.Fatalf("ss -xl does not list %s:\n%s", path, out)
	return backlog.Queue{}, false
}

func TestUnixQueueCountsWaitingClientsAsSsDoes(t *testing.T) {
	linuxOnly(t)
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	ul := ln.(*net.UnixListener)
	require.NoError(t, backlog.Resize(ul, 6))
	for want := 0; want <= 4; want++ {
		if want > 0 {
			c, err := net.DialTimeout("unix", path, 5*time.Second)
			require.NoError(t, err)
			defer c.Close()
		}
		q, err := backlog.Of(ul)
		require.NoError(t, err)
		assert.Equal(t, backlog.Queue{Len: want, Limit: 6}, q)
		if ss, ok := ssUnixQueue(t, path); ok {
			assert.Equal(t, q, ss, "ss -xl sees the same queue")
		}
	}
}

func TestQueueOfANonListeningSocketIsAnError(t *testing.T) {
	linuxOnly(t)
	ln := listenTCP(t)
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = backlog.Of(c.(*net.TCPConn))
	assert.Error(t, err)
}
