//go:build unix

package main_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/handoff"
)

// A new instance whose old one rolls back after its go (an old instance
// of the build before this one does when the new one is slower than its
// timeout) steps back: serve exits with the error and leaves the sockets
// untouched to the old instance, which alone serves them. It kept serving
// beside it for good, unable to offer at the old one's upgrade socket.
func TestServeTakeoverStepsBackWhenTheOldInstanceRollsBackAfterItsGo(t *testing.T) {
	bin := build(t)
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	f, err := ln.File()
	require.NoError(t, err)
	defer f.Close()
	dir, err := os.MkdirTemp("", "ag") // short: a unix socket's path has 108 bytes
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	up := filepath.Join(dir, "up.sock")
	offer, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: up, Net: "unixpacket"})
	require.NoError(t, err)
	defer offer.Close()

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--takeover", up)
	exited := make(chan []byte, 1)
	go func() {
		out, _ := cmd.CombinedOutput()
		exited <- out
	}()

	offer.SetDeadline(time.Now().Add(patience))
	c, err := offer.AcceptUnix()
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	say := func(m map[string]any, oob []byte) {
		t.Helper()
		b, _ := json.Marshal(m)
		_, _, err := c.WriteMsgUnix(b, oob, nil)
		require.NoError(t, err)
	}
	hear := func(want string) {
		t.Helper()
		buf := make([]byte, 1<<16)
		n, err := c.Read(buf)
		require.NoError(t, err)
		var m struct{ Op string }
		require.NoError(t, json.Unmarshal(buf[:n], &m))
		require.Equal(t, want, m.Op, "%s", buf[:n])
	}
	hear("hello")
	sock := map[string]any{"name": "http", "network": "tcp4", "address": ln.Addr().String(), "state": "accepting", "files": 1}
	say(map[string]any{"op": "sockets", "version": handoff.Version, "pid": os.Getpid(), "says_rollback": true,
		"sockets": []any{sock}}, syscall.UnixRights(int(f.Fd())))
	hear("ready")
	say(map[string]any{"op": "go"}, nil)
	hear("accepting")
	say(map[string]any{"op": "error", "error": "rolled back after the go"}, nil)

	select {
	case out := <-exited:
		assert.Contains(t, string(out), "rolled back after its go", "%s", out)
		assert.NotNil(t, cmd.ProcessState)
		assert.False(t, cmd.ProcessState.Success(), "%s", out)
	case <-ctx.Done():
		t.Fatal("the new instance serves on beside the old one")
	}
	// The socket is untouched, and this process's copy alone serves it.
	client, err := net.DialTimeout("tcp", ln.Addr().String(), patience)
	require.NoError(t, err)
	defer client.Close()
	ln.SetDeadline(time.Now().Add(patience))
	a, err := ln.Accept()
	require.NoError(t, err)
	a.Close()
}
