package upgrade

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// No generation passes on to the processes it starts a variable meant for
// another: systemd's LISTEN_* (for the first generation alone) and
// ACCEPTGATE_UPGRADE_FD (for the next generation alone, naming a
// descriptor nobody else has) are gone from the environment of both
// generations once they serve.
func TestNoGenerationPassesOnAnotherProcesssVariables(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	ln.Close()
	report := filepath.Join(shortDir(t), "report")
	cmd := startServer(t, os.Args[0], report, []*os.File{f}, addrEnv+"=127.0.0.1:0",
		"LISTEN_FDS=1", "LISTEN_FDNAMES=http", setPIDEnv+"=1")
	f.Close()
	pid := cmd.Process.Pid
	first := reportLine(t, report, "ready pid="+strconv.Itoa(pid)+" ")
	assert.Contains(t, first, " stale=[]", "the first generation")

	require.NoError(t, cmd.Process.Signal(unix.SIGHUP))
	assert.Equal(t, "upgrade pid="+strconv.Itoa(pid)+": <nil>", reportLine(t, report, "upgrade pid="))
	require.NoError(t, cmd.Wait())
	var next string
	eventually(t, func() bool {
		for _, l := range strings.Split(readFile(t, report), "\n") {
			if strings.HasPrefix(l, "ready pid=") && l != first {
				next = l
				return true
			}
		}
		return false
	}, "the next generation's ready")
	assert.Contains(t, next, " stale=[]", "the next generation")
	p, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(next, "ready pid="))[0])
	require.NoError(t, err)
	require.NoError(t, unix.Kill(p, unix.SIGTERM))
	reapChild(t, p)
}
