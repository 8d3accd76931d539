package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate/internal/upgradetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// serverEnv makes this test binary the example itself: main, with the
// arguments it was given.
const serverEnv = "ACCEPTGATE_EXAMPLE_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// startExample starts the example (this binary, through wrapper if any)
// with env added; every generation's output comes on the channel. The
// process is left for reap: the test is the subreaper of all generations.
func startExample(t *testing.T, wrapper []string, env []string, args ...string) (pid int, out <-chan string) {
	t.Helper()
	// Orphaned generations (their parent handed over and exited) come to
	// this process, which reaps them.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	argv := append(append(append([]string(nil), wrapper...), os.Args[0]), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), append(env, serverEnv+"=1")...)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	pid = cmd.Process.Pid
	cmd.Process.Release() // reaped by reap, as its successors are
	t.Cleanup(func() { r.Close() })
	return pid, lines(r)
}

// mainPID returns the pid of a "MAINPID=<pid>\nREADY=1" notification.
func mainPID(t *testing.T, msg string) int {
	t.Helper()
	v, ok := strings.CutPrefix(msg, "MAINPID=")
	require.True(t, ok, "want MAINPID=, got %q", msg)
	v, ok = strings.CutSuffix(v, "\nREADY=1")
	require.True(t, ok, "want READY=1 with MAINPID=, got %q", msg)
	pid, err := strconv.Atoi(v)
	require.NoError(t, err)
	return pid
}

// upgradeTo sends SIGHUP to pid and returns its successor's pid, once the
// successor answered and pid exited.
func upgradeTo(t *testing.T, n *upgradetest.Notifications, l *upgradetest.Load, pid int) int {
	t.Helper()
	before := len(n.All())
	require.NoError(t, unix.Kill(pid, unix.SIGHUP))
	msgs := n.WaitFor(t, before+2, patience)
	assert.True(t, strings.HasPrefix(msgs[before], "RELOADING=1\nMONOTONIC_USEC="), "an upgrade begins with RELOADING=1: %q", msgs[before])
	next := mainPID(t, msgs[before+1])
	require.NotEqual(t, pid, next)
	eventually(t, func() bool { return l.Seen(next) }, fmt.Sprintf("an answer from pid %d", next))
	reap(t, pid)
	return next
}

// Continuous load, a new connection per request, six upgrades by SIGHUP:
// every request is answered 200, the pid changes each time, and systemd is
// told READY, then RELOADING and MAINPID+READY per upgrade, then STOPPING
// on SIGTERM, in that order.
func TestExampleUpgradesSixTimesUnderLoad(t *testing.T) {
	n := listenNotify(t, fmt.Sprintf("@acceptgate-example-%d-%d", os.Getpid(), time.Now().UnixNano()))
	pid, out := startExample(t, nil, []string{"NOTIFY_SOCKET=" + n.Addr}, "-addr", "127.0.0.1:0")
	addr := servingAddr(t, out)
	l := startLoad("http://"+addr+"/", 8)
	eventually(t, func() bool { return l.Seen(pid) }, "an answer from the first generation")
	n.WaitFor(t, 1, patience) // READY=1
	pids := []int{pid}
	for range 6 {
		pids = append(pids, upgradeTo(t, n, l, pids[len(pids)-1]))
	}
	l.End(t)
	last := pids[len(pids)-1]
	require.NoError(t, unix.Kill(last, unix.SIGTERM))
	reap(t, last)
	for range out { // every generation's output, to the end
	}

	msgs := n.WaitFor(t, 14, patience)
	assert.Len(t, msgs, 14)
	assert.Equal(t, "READY=1", msgs[0])
	var usec []int64
	for i := range 6 {
		v, ok := strings.CutPrefix(msgs[1+2*i], "RELOADING=1\nMONOTONIC_USEC=")
		require.True(t, ok, msgs[1+2*i])
		u, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err)
		usec = append(usec, u)
		assert.Equal(t, pids[i+1], mainPID(t, msgs[2+2*i]))
	}
	assert.True(t, slices.IsSorted(usec), "MONOTONIC_USEC grows: %v", usec)
	assert.Equal(t, "STOPPING=1", msgs[13])
	slices.Sort(pids)
	assert.Len(t, slices.Compact(pids), 7, "seven generations, seven pids")
}

// Under systemd-socket-activate -l ADDR (one socket, no name), the example
// serves the activated socket, not its -addr (here one no process can
// bind), and upgrades it.
func TestExampleServesTheSocketSystemdActivates(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	n := listenNotify(t, fmt.Sprintf("@acceptgate-activate-%d-%d", os.Getpid(), time.Now().UnixNano()))
	// systemd-socket-activate passes on only the variables it is told to.
	pid, out := startExample(t, []string{activate, "-l", addr, "-E", serverEnv + "=1", "-E", "NOTIFY_SOCKET=" + n.Addr},
		nil, "-addr", "192.0.2.1:80")
	// It listens, then starts the service at the first connection, which
	// waits in the socket's queue meanwhile.
	eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "systemd-socket-activate to listen")
	l := startLoad("http://"+addr+"/", 2)
	eventually(t, func() bool { return l.Seen(pid) }, "an answer from the activated service")
	n.WaitFor(t, 1, patience) // READY=1
	next := upgradeTo(t, n, l, pid)
	l.End(t)
	require.NoError(t, unix.Kill(next, unix.SIGTERM))
	reap(t, next)
	for range out {
	}
	assert.Equal(t, []string{"READY=1"}, n.All()[:1])
	assert.Equal(t, "STOPPING=1", n.All()[len(n.All())-1])
}
