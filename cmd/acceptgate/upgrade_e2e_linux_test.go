//go:build linux

package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// instance is a running serve that offers its sockets for upgrades.
type instance struct {
	cmd        *exec.Cmd
	exited     chan error
	url        string
	admin      string // the admin API's address, as serve printed it
	stderrPath string
}

// startInstance runs serve with args and waits until it offers its sockets.
func startInstance(t *testing.T, bin string, args ...string) *instance {
	t.Helper()
	in := &instance{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), exited: make(chan error, 1)}
	// A file, not a pipe: a new instance started by SIGHUP inherits it, and
	// Wait would wait for that one to close a pipe too.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	in.cmd.Stderr = stderr
	in.stderrPath = stderr.Name()
	// A pipe of the test's own rather than StdoutPipe: Wait closes that
	// one's reading end when the instance exits, and an instance it
	// started on SIGHUP, which writes to the same pipe, would then die of
	// SIGPIPE at its next line.
	stdout, w, err := os.Pipe()
	require.NoError(t, err)
	in.cmd.Stdout = w
	err = in.cmd.Start()
	w.Close()
	require.NoError(t, err)
	t.Cleanup(func() { stdout.Close() })
	go func() { in.exited <- in.cmd.Wait() }()
	t.Cleanup(func() {
		in.cmd.Process.Kill()
		<-in.exited
	})
	offered := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		ok := false
		for lines.Scan() {
			if rest, found := strings.CutPrefix(lines.Text(), "acceptgate: serving "); found {
				in.url = strings.Fields(rest)[0]
			}
			if rest, found := strings.CutPrefix(lines.Text(), "acceptgate: admin API on "); found {
				in.admin = strings.TrimPrefix(rest, "http://")
			}
			if strings.HasPrefix(lines.Text(), "upgrade: ") {
				ok = true
				break
			}
		}
		offered <- ok
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-offered:
		require.True(t, ok, "serve said it offers its sockets")
	case <-time.After(patience):
		t.Fatal("serve did not offer its sockets")
	}
	return in
}

// exitsCleanly waits for the instance to leave with status 0.
func (in *instance) exitsCleanly(t *testing.T) {
	t.Helper()
	select {
	case err := <-in.exited:
		in.exited <- err // for the cleanup
		said, _ := os.ReadFile(in.stderrPath)
		require.NoError(t, err, "the old instance exits 0; it said:\n%s", said)
	case <-time.After(patience):
		t.Fatal("the old instance did not leave")
	}
}

// httpLoad runs client loops of fresh connections against url until
// stopped, bounded in count and time, and counts failures.
type httpLoad struct {
	ok, failed atomic.Int64
	first      atomic.Pointer[string]
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startHTTPLoad(url string, loops int) *httpLoad {
	l := &httpLoad{stop: make(chan struct{})}
	c := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(2 * time.Minute)
	for range loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < 100_000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					msg := err.Error()
					l.first.CompareAndSwap(nil, &msg)
					l.failed.Add(1)
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *httpLoad) waitMore(t *testing.T, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	deadline := time.Now().Add(patience)
	for l.ok.Load() < target {
		require.True(t, time.Now().Before(deadline), "clients stopped being served")
		time.Sleep(time.Millisecond)
	}
}

func (l *httpLoad) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	first := ""
	if p := l.first.Load(); p != nil {
		first = *p
	}
	assert.Zero(t, l.failed.Load(), "requests that failed (first: %s)", first)
	t.Logf("%d requests served", l.ok.Load())
}

// stopByPID stops, at the end of the test, an instance that is not the
// test's child (SIGHUP started it): SIGINT, then SIGKILL if it is still
// there after patience.
func stopByPID(t *testing.T, pid int) {
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGINT)
		deadline := time.Now().Add(patience)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// servingPID asks the admin API on its unix socket which process answers.
func servingPID(t *testing.T, adminSock string) int {
	t.Helper()
	c := &http.Client{Timeout: patience, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", adminSock)
		},
		DisableKeepAlives: true,
	}}
	resp, err := c.Get("http://localhost/v1/listeners")
	require.NoError(t, err)
	defer resp.Body.Close()
	var vs []control.View
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&vs))
	require.Len(t, vs, 1)
	return vs[0].PID
}

// Ten generations of serve in a row take the sockets over from the last,
// under a loop of HTTP clients: nobody is refused or reset, each old
// instance exits 0, and the admin API answers from the newest.
func TestServeUpgradesInPlace(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	up, admin := filepath.Join(dir, "upgrade.sock"), filepath.Join(dir, "admin.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", admin, "--upgrade-socket", up)
	load := startHTTPLoad(old.url, 4)
	load.waitMore(t, 50)
	for gen := 2; gen <= 10; gen++ {
		next := startInstance(t, bin, "--takeover", up)
		assert.Equal(t, old.url, next.url, "the same address")
		old.exitsCleanly(t)
		assert.Equal(t, next.cmd.Process.Pid, servingPID(t, admin), "generation %d answers", gen)
		load.waitMore(t, 50)
		old = next
	}
	load.end(t)
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGINT))
	old.exitsCleanly(t)
}

// An admin API on 127.0.0.1:N holds [::1]:N, where a browser opening
// localhost:N may go first, in every generation: the new one reserves it
// beside the old one, which lets its reservation go when it exits.
func TestServeHoldsTheOtherLoopbackAcrossUpgrades(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no ::1 here: %v", err)
	} else {
		ln.Close()
	}
	bin := build(t)
	up := filepath.Join(t.TempDir(), "upgrade.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--upgrade-socket", up)
	_, port, err := net.SplitHostPort(old.admin)
	require.NoError(t, err, "serve printed its admin address")
	for gen := 2; gen <= 3; gen++ {
		next := startInstance(t, bin, "--takeover", up)
		old.exitsCleanly(t)
		assert.Equal(t, old.admin, next.admin, "generation %d serves the same admin socket", gen)
		ln, err := net.Listen("tcp", "[::1]:"+port)
		if ln != nil {
			ln.Close()
		}
		assert.ErrorIs(t, err, syscall.EADDRINUSE, "[::1]:%s is held in generation %d", port, gen)
		old = next
	}
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGINT))
	old.exitsCleanly(t)
}

// SIGHUP makes serve start its own binary again, which takes the sockets
// over; the old instance then leaves.
func TestServeUpgradesOnSIGHUP(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	up, admin := filepath.Join(dir, "upgrade.sock"), filepath.Join(dir, "admin.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", admin, "--upgrade-socket", up)
	load := startHTTPLoad(old.url, 2)
	load.waitMore(t, 20)
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGHUP))
	old.exitsCleanly(t)
	pid := servingPID(t, admin)
	assert.NotEqual(t, old.cmd.Process.Pid, pid)
	stopByPID(t, pid)
	load.waitMore(t, 20)
	load.end(t)
}

// A new instance that cannot take over changes nothing: it fails, and the
// old one serves on.
func TestServeTakeoverFailsCleanly(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "serve", "--takeover", filepath.Join(dir, "nobody-offers.sock")).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "--takeover")
	out, err = exec.Command(bin, "serve", "--takeover", filepath.Join(dir, "x.sock"), "--addr", "127.0.0.1:0").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "--addr with --takeover")
}

// The old instance finishes a request in flight when it hands over, and
// does not wait its grace out for an idle keep-alive connection.
func TestServeUpgradeFinishesRequestsAndClosesIdleConnections(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	up, admin := filepath.Join(dir, "upgrade.sock"), filepath.Join(dir, "admin.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", admin, "--upgrade-socket", up, "--grace", "1m")

	keepAlive := &http.Client{Timeout: patience}
	resp, err := keepAlive.Get(old.url)
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	resp.Body.Close() // idle, kept alive

	slow := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(old.url + "slow?d=2s")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	c, err := control.NewClient(admin, "")
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	require.Eventually(t, func() bool {
		v, err := c.Get(context.Background(), "http")
		return err == nil && v.Active == 2
	}, patience, 5*time.Millisecond, "the slow request in flight beside the idle connection")
	c.CloseIdleConnections()

	next := startInstance(t, bin, "--takeover", up)
	defer next.cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	old.exitsCleanly(t) // within patience, far less than the grace of a minute
	t.Logf("the old instance left %v after the new one offered", time.Since(start).Round(time.Millisecond))
	select {
	case got := <-slow:
		assert.Equal(t, "slept 2s\n", got, "the request in flight is answered by the old instance")
	case <-time.After(patience):
		t.Fatal("the slow request got no answer")
	}
	resp, err = keepAlive.Get(old.url)
	require.NoError(t, err, "the keep-alive client is served on, by the new instance")
	resp.Body.Close()
}

// Two SIGHUPs in a row start two new instances: one takes over, the other
// fails or takes over from it in turn; clients are served throughout and a
// single instance is left serving.
func TestServeTwoSIGHUPsInARow(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	up, admin := filepath.Join(dir, "upgrade.sock"), filepath.Join(dir, "admin.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", admin, "--upgrade-socket", up)
	load := startHTTPLoad(old.url, 2)
	load.waitMore(t, 20)
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGHUP))
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGHUP))
	old.exitsCleanly(t)
	// Wait for the generations to settle: the serving one offers at up.
	require.Eventually(t, func() bool {
		c, err := net.Dial("unixpacket", up)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, patience, 10*time.Millisecond, "an instance to offer the sockets")
	load.waitMore(t, 20)
	pid := servingPID(t, admin)
	stopByPID(t, pid)
	load.waitMore(t, 20)
	load.end(t)
	// Every instance but the serving one is gone.
	out, err := exec.Command("pgrep", "-f", bin).Output()
	require.NoError(t, err)
	var alive []string
	for _, p := range strings.Fields(string(out)) {
		alive = append(alive, p)
	}
	assert.Equal(t, []string{fmt.Sprint(pid)}, alive, "only the serving instance is left")
}

// offerThenVanish offers ln at path as an old instance would, and hangs up
// once the taker says it accepts, without saying done: an old instance
// that let go of the sockets and died before it could say so.
func offerThenVanish(t *testing.T, path string, ln *net.TCPListener) <-chan error {
	t.Helper()
	off, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	require.NoError(t, err)
	f, err := ln.File()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		defer off.Close()
		defer f.Close()
		off.SetDeadline(time.Now().Add(patience))
		c, err := off.AcceptUnix()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(patience))
		buf := make([]byte, 1<<16)
		step := func(send map[string]any, oob []byte, want string) error {
			if send != nil {
				b, _ := json.Marshal(send)
				if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
					return err
				}
			}
			if want == "" {
				return nil
			}
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			var m struct{ Op string }
			json.Unmarshal(buf[:n], &m)
			if m.Op != want {
				return fmt.Errorf("got %s, want %s", buf[:n], want)
			}
			return nil
		}
		sock := map[string]any{"name": "http", "network": "tcp4", "address": ln.Addr().String(), "state": "accepting", "own": true, "files": 1}
		err = step(nil, nil, "hello")
		if err == nil {
			err = step(map[string]any{"op": "sockets", "version": 1, "pid": os.Getpid(), "sockets": []any{sock}}, syscall.UnixRights(int(f.Fd())), "ready")
		}
		if err == nil {
			err = step(map[string]any{"op": "go"}, nil, "accepting")
		}
		off.Close() // the path is free for the new instance's offer, as a real old one leaves it
		done <- err
	}()
	return done
}

// A new instance whose old one let go of the sockets but never said done
// serves on: it is the only one left to serve them.
func TestServeTakeoverServesOnWhenTheOldInstanceVanishes(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	up := filepath.Join(dir, "upgrade.sock")
	vanished := offerThenVanish(t, up, ln)
	cmd := exec.Command(bin, "serve", "--takeover", up)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	select {
	case err := <-vanished:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("the new instance did not take the socket")
	}
	ln.Close() // the old instance is gone

	c := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 20 {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the new instance left (%v): nobody serves the socket", err)
		default:
		}
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		require.NoError(t, err)
		resp.Body.Close()
	}
}

// An instance systemd started upgrades on SIGHUP like any other: the new
// instance takes the sockets from it, not from systemd.
func TestServeSystemdUpgradesOnSIGHUP(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	_, adminPath, files := unitSockets(t, 0o600) // SocketMode=0600
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	up := filepath.Join(t.TempDir(), "upgrade.sock")
	srv := activated(ctx, bin, files, "--upgrade-socket", up)
	srv.Stderr = stderr
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		srv.Process.Kill()
		<-exited
	}()
	require.Eventually(t, func() bool { _, err := os.Stat(up); return err == nil }, patience, 10*time.Millisecond, "serve to offer its sockets")
	old := srv.Process.Pid
	require.NoError(t, srv.Process.Signal(syscall.SIGHUP))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err)
	case <-time.After(patience):
		said, _ := os.ReadFile(stderr.Name())
		t.Fatalf("the old instance did not leave; it said:\n%s", said)
	}
	pid := servingPID(t, adminPath)
	stopByPID(t, pid)
	assert.NotEqual(t, old, pid)
}

// A new instance told to offer the sockets where it cannot is refused
// before it takes anything: the old one serves on, still offering.
func TestServeTakeoverRefusesAnUpgradeSocketItCannotMake(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	up := filepath.Join(dir, "upgrade.sock")
	old := startInstance(t, bin, "--addr", "127.0.0.1:0", "--admin", "", "--upgrade-socket", up)
	out, err := exec.Command(bin, "serve", "--takeover", up, "--upgrade-socket", filepath.Join(dir, "missing", "up.sock")).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "its directory must exist")
	resp, err := http.Get(old.url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the old instance serves on")
	next := startInstance(t, bin, "--takeover", up)
	old.exitsCleanly(t)
	assert.Equal(t, old.url, next.url, "and still offers its sockets")
}
