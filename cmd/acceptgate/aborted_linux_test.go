package main_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestServeSkipAbortedCountsClientsThatGaveUp: with --skip-aborted, a client
// that closed while serve was paused is not served and shows in ctl status;
// the client behind it is served.
func TestServeSkipAbortedCountsClientsThatGaveUp(t *testing.T) {
	bin := build(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", admin, "--skip-aborted")
	ctl := func(args ...string) string {
		out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", admin}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	u, err := url.Parse(srv.url)
	require.NoError(t, err)

	ctl("pause", "http")
	gone, err := net.DialTimeout("tcp", u.Host, patience)
	require.NoError(t, err)
	require.NoError(t, gone.Close())
	require.Eventually(t, func() bool { return closeWaiting(t, gone) }, patience, time.Millisecond,
		"the server's side took in the client's FIN")
	stays, err := net.DialTimeout("tcp", u.Host, patience)
	require.NoError(t, err)
	defer stays.Close()
	ctl("resume", "http")

	_, err = stays.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	require.NoError(t, stays.SetReadDeadline(time.Now().Add(patience)))
	line, err := bufio.NewReader(stays).ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, "200 OK", "the client that stayed is served")

	var vs []control.View
	require.NoError(t, json.Unmarshal([]byte(ctl("--json", "status", "http")), &vs))
	require.Len(t, vs, 1)
	assert.EqualValues(t, 1, vs[0].Aborted)
	assert.EqualValues(t, 1, vs[0].Accepted)
	table := strings.Split(strings.TrimSpace(ctl("status", "http")), "\n")
	require.Len(t, table, 3, "the process line, the head, one gate")
	head, row := strings.Fields(table[1]), strings.Fields(table[2])
	require.Len(t, row, len(head))
	assert.Equal(t, "1", row[indexOf(head, "ABORTED")])
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// closeWaiting reports whether serve's side of client c is in CLOSE_WAIT,
// as /proc/net/tcp tells (the demo listens on IPv4 loopback).
func closeWaiting(t *testing.T, c net.Conn) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	local, remote := procAddr(c.RemoteAddr().(*net.TCPAddr)), procAddr(c.LocalAddr().(*net.TCPAddr))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] == local && f[2] == remote {
			return f[3] == "08"
		}
	}
	return false
}

// procAddr writes an IPv4 address as /proc/net/tcp does: a 32-bit word in
// the machine's byte order, then the port, in hexadecimal.
func procAddr(a *net.TCPAddr) string {
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(a.IP.To4()), a.Port)
}
