//go:build unix

package listener_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/listener"
)

// The child side of TestSystemdSocketsServeAndStayTheManagers: the test
// binary started again with sockets at descriptors 3, 4 and 5, as systemd
// starts a service. It reads commands on stdin and says what it did on
// stdout, each line prefixed "child:".
const childEnv = "ACCEPTGATE_TEST_SYSTEMD_CHILD"

// setPIDEnv asks the child to set LISTEN_PID to its own id before reading
// the variables. systemd sets LISTEN_PID between fork and exec, when the
// child's id is known; exec.Cmd offers no such moment, so the child stands
// in for that step itself, and the parent sets no LISTEN_PID at all.
const setPIDEnv = "ACCEPTGATE_TEST_SET_LISTEN_PID"

// askEnv names a socket the child asks Sockets.Listener for, saying what
// the error wraps, after the "dns" line.
const askEnv = "ACCEPTGATE_TEST_ASK"

func TestSystemdChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as the child of TestSystemdSocketsServeAndStayTheManagers")
	}
	say := func(format string, args ...any) { fmt.Printf("child: "+format+"\n", args...) }
	if os.Getenv(setPIDEnv) == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	socks, err := listener.Systemd(true)
	if err != nil {
		say("error %v", err)
		return
	}
	say("env LISTEN_FDS=%q LISTEN_FDNAMES=%q LISTEN_PID=%q", os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES"), os.Getenv("LISTEN_PID"))
	for i, sk := range socks {
		say("socket %d %s listener=%t file=%t", i, sk.Name, sk.Listener != nil, sk.File != nil)
	}
	_, err = socks.Listener("dns")
	say("dns is a listener: %v", !errors.Is(err, listener.ErrNoSocket))
	if name := os.Getenv(askEnv); name != "" {
		_, err := socks.Listener(name)
		say("ask %s: no socket %t, address in use %t: %v", name, errors.Is(err, listener.ErrNoSocket), errors.Is(err, syscall.EADDRINUSE), err)
	}
	var gates []*acceptgate.Listener
	var done []chan struct{}
	for _, name := range []string{"http", "admin"} {
		ln, err := socks.Listener(name)
		if err != nil {
			say("error %v", err)
			return
		}
		g := acceptgate.Wrap(ln)
		gates = append(gates, g)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s from %d", name, os.Getpid())
		})}
		served := make(chan struct{})
		done = append(done, served)
		go func() { defer close(served); srv.Serve(g) }()
		defer srv.Close()
	}
	for _, sk := range socks {
		if sk.File != nil {
			sk.File.Close()
		}
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var errs []error
		for _, g := range gates {
			switch in.Text() {
			case "reject":
				errs = append(errs, g.Reject())
			case "resume":
				errs = append(errs, g.Resume())
			case "close":
				errs = append(errs, g.Close())
			}
		}
		say("%s: %v", in.Text(), errors.Join(errs...))
		if in.Text() == "close" {
			for _, d := range done {
				<-d
			}
			return
		}
	}
}

// child is the test binary running TestSystemdChild.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startChild(t *testing.T, files []*os.File, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystemdChild$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append(env, childEnv+"=1")...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "child: "); ok {
				c.lines <- line
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		for range c.lines {
		}
		cmd.Wait()
	})
	return c
}

// next returns the child's next line.
func (c *child) next() string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		require.True(c.t, ok, "the child ended early")
		return line
	case <-time.After(30 * time.Second):
		c.t.Fatal("no word from the child in 30s")
	}
	return ""
}

func (c *child) do(cmd string) string {
	c.t.Helper()
	fmt.Fprintln(c.stdin, cmd)
	return c.next()
}

func TestSystemdSocketsServeAndStayTheManagers(t *testing.T) {
	// The test plays systemd: it makes the sockets, keeps its own
	// descriptors, and passes copies.
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()
	path := filepath.Join(t.TempDir(), "admin.sock")
	unixLn, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer unixLn.Close()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer udp.Close()
	var files []*os.File
	for _, s := range []interface{ File() (*os.File, error) }{tcp.(*net.TCPListener), unixLn.(*net.UnixListener), udp.(*net.UDPConn)} {
		f, err := s.File()
		require.NoError(t, err)
		defer f.Close()
		files = append(files, f)
	}

	c := startChild(t, files, "LISTEN_FDS=3", "LISTEN_FDNAMES=http:admin:dns", setPIDEnv+"=1")
	assert.Equal(t, `env LISTEN_FDS="" LISTEN_FDNAMES="" LISTEN_PID=""`, c.next(), "unset as asked")
	assert.Equal(t, "socket 0 http listener=true file=false", c.next())
	assert.Equal(t, "socket 1 admin listener=true file=false", c.next())
	assert.Equal(t, "socket 2 dns listener=false file=true", c.next(), "a datagram socket is handed over as a file")
	assert.Equal(t, "dns is a listener: false", c.next())
	require.Equal(t, "ready", c.next())

	pid := strconv.Itoa(c.cmd.Process.Pid)
	tcpClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	unixClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Dial: func(_, _ string) (net.Conn, error) {
		return net.Dial("unix", path)
	}}}
	get := func(client *http.Client) (string, error) {
		resp, err := client.Get("http://" + tcp.Addr().String() + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	served := func(step string) {
		body, err := get(tcpClient)
		require.NoError(t, err, step)
		assert.Equal(t, "http from "+pid, body, step)
		body, err = get(unixClient)
		require.NoError(t, err, step)
		assert.Equal(t, "admin from "+pid, body, step)
	}
	served("accepting")

	require.Equal(t, "reject: <nil>", c.do("reject"))
	for _, addr := range []net.Addr{tcp.Addr(), unixLn.Addr()} {
		_, err := net.DialTimeout(addr.Network(), addr.String(), 10*time.Second)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED, "%s refused while rejecting", addr)
	}

	require.Equal(t, "resume: <nil>", c.do("resume"))
	served("resumed")

	require.Equal(t, "close: <nil>", c.do("close"))
	require.NoError(t, c.cmd.Wait())
	// The child is gone; the sockets are still the manager's, listening.
	_, err = os.Stat(path)
	assert.NoError(t, err, "closing an inherited unix socket leaves its path")
	for _, addr := range []net.Addr{tcp.Addr(), unixLn.Addr()} {
		conn, err := net.DialTimeout(addr.Network(), addr.String(), 10*time.Second)
		if assert.NoError(t, err, "%s still listens for the manager", addr) {
			conn.Close()
		}
	}
}

// A process that stopped an inherited socket to reject clients and died
// before it listened again leaves the socket bound and deaf; the next
// process makes it listen again.
func TestSystemdListensAgainOnAStoppedSocket(t *testing.T) {
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()
	f, err := tcp.(*net.TCPListener).File()
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Shutdown(int(f.Fd()), syscall.SHUT_RD), "stop it as a gate's Reject does")
	_, err = net.DialTimeout("tcp4", tcp.Addr().String(), 10*time.Second)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "stopped")
	unixLn, err := net.Listen("unix", filepath.Join(t.TempDir(), "admin.sock"))
	require.NoError(t, err)
	defer unixLn.Close()
	uf, err := unixLn.(*net.UnixListener).File()
	require.NoError(t, err)
	defer uf.Close()

	c := startChild(t, []*os.File{f, uf}, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:admin", setPIDEnv+"=1")
	c.next() // env
	assert.Equal(t, "socket 0 http listener=true file=false", c.next(), "listening again")
	c.next() // admin
	c.next() // dns
	require.Equal(t, "ready", c.next())
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + tcp.Addr().String() + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSystemdRefusesWhatIsNotForIt(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "another process's sockets", env: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": strconv.Itoa(os.Getppid())}, want: "another process"},
		{name: "no pid", env: map[string]string{"LISTEN_FDS": "1"}, want: "LISTEN_PID"},
		{name: "pid not a number", env: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "self"}, want: "not a process id"},
		{name: "count not a number", env: map[string]string{"LISTEN_FDS": "two", "LISTEN_PID": me}, want: "LISTEN_FDS"},
		{name: "negative count", env: map[string]string{"LISTEN_FDS": "-1", "LISTEN_PID": me}, want: "LISTEN_FDS"},
		{name: "huge count", env: map[string]string{"LISTEN_FDS": "1000000", "LISTEN_PID": me}, want: "LISTEN_FDS"},
		{name: "names do not match", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": me, "LISTEN_FDNAMES": "http"}, want: "1 names for 2"},
		{name: "descriptor not open", env: map[string]string{"LISTEN_FDS": "4096", "LISTEN_PID": me}, want: "bad file descriptor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
				t.Setenv(k, "")
				if v, ok := tc.env[k]; ok {
					os.Setenv(k, v)
				} else {
					os.Unsetenv(k)
				}
			}
			socks, err := listener.Systemd(true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, socks)
			for k, v := range tc.env {
				assert.Equal(t, v, os.Getenv(k), "a failure leaves the environment as it was")
			}
		})
	}
}

func TestSystemdWithoutSocketsIsNothing(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	os.Unsetenv("LISTEN_FDS")
	socks, err := listener.Systemd(true)
	assert.NoError(t, err)
	assert.Empty(t, socks)
}
