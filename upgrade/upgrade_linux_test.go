package upgrade

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Under load with a new connection per request, the sockets move to the
// next generation and every request is answered, by one or the other. The
// next generation writes the PID file, inherits no descriptor this one did
// not hand it, and is the one systemd is told about (MAINPID=).
func TestUpgradeUnderLoadAnswersEveryone(t *testing.T) {
	dir := shortDir(t)
	n := listenNotify(t, filepath.Join(dir, "notify"))
	t.Setenv("NOTIFY_SOCKET", n.Addr)
	pidFile := filepath.Join(dir, "server.pid")
	t.Setenv(pidFileEnv, pidFile)
	reportFile := filepath.Join(dir, "report")
	t.Setenv(reportEnv, reportFile)
	// A descriptor this process holds without close-on-exec, as one
	// inherited from a shell would be: the next generation must not get it.
	marker := filepath.Join(dir, "marker")
	require.NoError(t, os.WriteFile(marker, nil, 0o600))
	fd, err := unix.Open(marker, unix.O_RDONLY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	t.Setenv(markerEnv, marker)

	g := startGeneration(t, "serve", Options{PIDFile: pidFile})
	require.NoError(t, g.u.Ready())
	assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", readFile(t, pidFile))
	l := startLoad(g.url, 4)
	eventually(t, func() bool { return l.Seen(os.Getpid()) }, "an answer from this process")
	require.NoError(t, g.u.Upgrade())
	<-g.u.Exit()

	msgs := n.WaitFor(t, 3, patience)
	next, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(msgs[2], "MAINPID="), "\nREADY=1"))
	require.NoError(t, err, "MAINPID= of the next generation: %q", msgs[2])
	defer func() {
		unix.Kill(next, unix.SIGTERM)
		reapChild(t, next)
	}()
	eventually(t, func() bool { return l.Seen(next) }, "an answer from the next generation")
	l.End(t)
	assert.Equal(t, []string{"READY=1", msgs[1], "MAINPID=" + strconv.Itoa(next) + "\nREADY=1"}, msgs)
	assert.Equal(t, "ready pid="+strconv.Itoa(next)+" addr="+g.gate.Addr().String()+" leaked=false stale=[]", reportLine(t, reportFile, "ready"))
	assert.Equal(t, strconv.Itoa(next)+"\n", readFile(t, pidFile))
}

// reapChild waits, within patience, for pid, a child of this process, to
// exit.
func reapChild(t *testing.T, pid int) {
	t.Helper()
	eventually(t, func() bool {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return got == pid || err != nil && err != unix.EINTR
	}, "the next generation to exit")
}
