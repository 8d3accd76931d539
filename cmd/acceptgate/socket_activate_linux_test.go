//go:build linux

package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notifySocket stands in for systemd's NOTIFY_SOCKET: a unix datagram
// socket that keeps every message it receives, in order.
type notifySocket struct {
	addr string
	mu   sync.Mutex
	got  []string
}

func listenNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	addr := fmt.Sprintf("@acceptgate-serve-%d-%d", os.Getpid(), time.Now().UnixNano()) // abstract: no file to clean
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	require.NoError(t, err)
	n := &notifySocket{addr: addr}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.got = append(n.got, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

// waitFor waits until at least k messages came, and returns them all.
func (n *notifySocket) waitFor(t *testing.T, k int) []string {
	t.Helper()
	all := func() []string {
		n.mu.Lock()
		defer n.mu.Unlock()
		return append([]string(nil), n.got...)
	}
	require.Eventually(t, func() bool { return len(all()) >= k }, patience, 2*time.Millisecond, "%d notifications", k)
	return all()
}

// Under systemd-socket-activate -l ADDR, which passes one socket with no
// name, "serve --systemd" serves that socket, upgrades it on SIGHUP with
// every client answered, and tells the manager, in order: READY=1, then
// RELOADING=1 with MONOTONIC_USEC=, then MAINPID= of the new instance with
// READY=1, then STOPPING=1 when that one is stopped.
func TestServeSystemdSocketActivateUpgradesOnSIGHUP(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd)")
	}
	bin := build(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	n := listenNotifySocket(t)
	dir := t.TempDir()
	admin := filepath.Join(dir, "admin.sock")
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	// systemd-socket-activate passes on only the variables it is told to,
	// and execs serve in its own place.
	cmd := exec.Command(activate, "-l", addr, "-E", "NOTIFY_SOCKET="+n.addr,
		bin, "serve", "--systemd", "--admin", admin, "--grace", "5s")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	said := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }

	// It listens, then execs serve, which finds the socket and the
	// clients waiting in its queue.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, patience, 5*time.Millisecond, "systemd-socket-activate to listen")
	load := startHTTPLoad("http://"+addr+"/", 2)
	load.waitMore(t, 20)
	assert.Equal(t, []string{"READY=1"}, n.waitFor(t, 1), "serve said it serves")
	old := cmd.Process.Pid
	assert.Equal(t, old, servingPID(t, admin), "serve itself serves the activated socket")

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	msgs := n.waitFor(t, 3)
	assert.True(t, strings.HasPrefix(msgs[1], "RELOADING=1\nMONOTONIC_USEC="), "an upgrade begins with RELOADING=1: %q", msgs[1])
	mainPID, ok := strings.CutSuffix(strings.TrimPrefix(msgs[2], "MAINPID="), "\nREADY=1")
	require.True(t, ok && strings.HasPrefix(msgs[2], "MAINPID="), "then MAINPID= and READY=1: %q; serve said:\n%s", msgs, said())
	next, err := strconv.Atoi(mainPID)
	require.NoError(t, err)
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err, "the old instance exits 0; it said:\n%s", said())
	case <-time.After(patience):
		t.Fatalf("the old instance did not leave; it said:\n%s", said())
	}
	require.NotEqual(t, old, next)
	assert.Equal(t, next, servingPID(t, admin), "the instance systemd was told of serves")
	load.waitMore(t, 20)
	load.end(t)

	require.NoError(t, syscall.Kill(next, syscall.SIGTERM))
	msgs = n.waitFor(t, 4)
	assert.Equal(t, "STOPPING=1", msgs[3], "last, the new instance says it stops")
	require.Eventually(t, func() bool { return syscall.Kill(next, 0) != nil }, patience, 10*time.Millisecond, "the new instance to exit")
	assert.Len(t, n.waitFor(t, 4), 4, "nothing more was said: %q", msgs)
}
