package upgrade

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// startServer starts the test binary (or the copy at bin) as a first
// generation in mode serve, reporting to report, with env added.
func startServer(t *testing.T, bin, report string, extra []*os.File, env ...string) *exec.Cmd {
	t.Helper()
	// Generations whose parent handed over and exited come to this
	// process, which reaps them.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, modeEnv+"=serve", reportEnv+"="+report)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	require.NoError(t, cmd.Start())
	return cmd
}

// readyAddr waits for the generation pid's ready line and returns its
// address.
func readyAddr(t *testing.T, report string, pid int) string {
	t.Helper()
	line := reportLine(t, report, "ready pid="+strconv.Itoa(pid)+" ")
	_, rest, _ := strings.Cut(line, " addr=")
	addr, _, _ := strings.Cut(rest, " ")
	return addr
}

// A next generation that cannot be started (the binary is gone) leaves
// this one serving, and Upgrade says why.
func TestUpgradeFailsToStartTheNextGeneration(t *testing.T) {
	dir := shortDir(t)
	bin := filepath.Join(dir, "server.test")
	copyFile(t, os.Args[0], bin)
	report := filepath.Join(dir, "report")
	cmd := startServer(t, bin, report, nil, addrEnv+"=127.0.0.1:0")
	pid := cmd.Process.Pid
	addr := readyAddr(t, report, pid)
	require.NoError(t, os.Remove(bin))
	require.NoError(t, cmd.Process.Signal(unix.SIGHUP))
	line := reportLine(t, report, "upgrade pid="+strconv.Itoa(pid))
	assert.Contains(t, line, "starting the next generation")
	assert.Contains(t, line, "no such file or directory")
	got, err := get("http://" + addr + "/")
	require.NoError(t, err)
	assert.Equal(t, pid, got, "the old generation serves on")
	require.NoError(t, cmd.Process.Signal(unix.SIGTERM))
	assert.NoError(t, cmd.Wait())
}

// One socket passed as systemd passes it with systemd-socket-activate -l
// ADDR (LISTEN_FDS=1, no LISTEN_FDNAMES) is the one Listen returns,
// whatever address it asked for (here one nobody can bind), and it is
// handed over on upgrade like any other.
func TestListenServesALoneUnnamedSystemdSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	ln.Close()
	dir := shortDir(t)
	report := filepath.Join(dir, "report")
	cmd := startServer(t, os.Args[0], report, []*os.File{f}, addrEnv+"=192.0.2.1:80", "LISTEN_FDS=1", setPIDEnv+"=1")
	f.Close()
	pid := cmd.Process.Pid
	assert.Equal(t, addr, readyAddr(t, report, pid))
	got, err := get("http://" + addr + "/")
	require.NoError(t, err)
	assert.Equal(t, pid, got)

	require.NoError(t, cmd.Process.Signal(unix.SIGHUP))
	assert.Equal(t, "upgrade pid="+strconv.Itoa(pid)+": <nil>", reportLine(t, report, "upgrade pid="))
	require.NoError(t, cmd.Wait(), "the old generation exits once it handed over")
	var next int
	eventually(t, func() bool {
		for _, l := range strings.Split(readFile(t, report), "\n") {
			if v, ok := strings.CutPrefix(l, "ready pid="); ok {
				if p, _ := strconv.Atoi(strings.Fields(v)[0]); p != pid {
					next = p
					return true
				}
			}
		}
		return false
	}, "the next generation's ready")
	require.NotEqual(t, pid, next)
	assert.Equal(t, addr, readyAddr(t, report, next))
	got, err = get("http://" + addr + "/")
	require.NoError(t, err)
	assert.Equal(t, next, got)
	require.NoError(t, unix.Kill(next, unix.SIGTERM))
	reapChild(t, next)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
