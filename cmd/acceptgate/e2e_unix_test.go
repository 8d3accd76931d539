//go:build unix

package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const patience = 20 * time.Second

func build(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ACCEPTGATE_BIN"); bin != "" {
		return bin // built already, for a run as another user (.ci/run)
	}
	bin := filepath.Join(t.TempDir(), "acceptgate")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// server is a running "acceptgate serve".
type server struct {
	cmd    *exec.Cmd
	exited chan error
	url    string // of the demo server
	admin  string // where serve says its admin API is
}

// startServe runs serve with args on a free port; see startCommand.
func startServe(t *testing.T, ctx context.Context, bin string, args ...string) *server {
	t.Helper()
	return startCommand(t, exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...))
}

// startCommand starts cmd, a serve, and waits until it has printed where
// its admin API is. The process is killed at the end of the test if it is
// still running.
func startCommand(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	s := &server{cmd: cmd, exited: make(chan error, 1)}
	stdout, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "acceptgate: serving "); ok {
			s.url = strings.Fields(rest)[0]
		}
		if rest, ok := strings.CutPrefix(lines.Text(), "acceptgate: admin API on "); ok {
			s.admin = rest
			break
		}
	}
	require.NotEmpty(t, s.url, "serve printed its address")
	require.NotEmpty(t, s.admin, "serve printed its admin address")
	go io.Copy(io.Discard, stdout)
	return s
}

// writeToken writes a token file with mode perm and returns its path.
func writeToken(t *testing.T, token string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(token+"\n"), 0o600))
	require.NoError(t, os.Chmod(path, perm))
	return path
}

// TestServeAndCtlEndToEnd starts the demo server with a token file and a
// unix admin socket, drives it with ctl and plain HTTP clients, and stops it
// with SIGINT while a keep-alive connection is idle.
func TestServeAndCtlEndToEnd(t *testing.T) {
	bin := build(t)
	admin := filepath.Join(t.TempDir(), "admin.sock")
	tokenFile := writeToken(t, "t0k-0123456789abcdef", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", admin, "--token-file", tokenFile, "--grace", "5s")
	url, exited := srv.url, srv.exited
	fi, err := os.Stat(admin)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the admin socket is private to its owner")

	ctl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", admin, "--token-file", tokenFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	keepAlive := &http.Client{Transport: &http.Transport{}, Timeout: patience}
	defer keepAlive.CloseIdleConnections()
	get := func(c *http.Client) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get(keepAlive)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", body)

	out, err := ctl("pause", "http")
	require.NoError(t, err, out)
	assert.Contains(t, out, "paused")

	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: patience}
	answered := make(chan string, 1)
	go func() {
		b, err := get(fresh)
		if err != nil {
			b = err.Error()
		}
		answered <- b
	}()
	status := func() control.View {
		cmd := exec.CommandContext(ctx, bin, "ctl", "--admin", admin, "--json", "status", "http")
		cmd.Env = append(os.Environ(), "ACCEPTGATE_TOKEN_FILE="+tokenFile)
		out, err := cmd.Output()
		require.NoError(t, err, "%s", out)
		var vs []control.View
		require.NoError(t, json.Unmarshal([]byte(out), &vs), "%s", out)
		require.Len(t, vs, 1)
		return vs[0]
	}
	if runtime.GOOS == "linux" {
		require.Eventually(t, func() bool { return status().Queued == 1 }, patience, 5*time.Millisecond, "the new client waits in the kernel's queue")
	}
	select {
	case b := <-answered:
		t.Fatalf("answered while paused: %q", b)
	default:
	}
	ready, err := control.NewClient(admin, "")
	require.NoError(t, err)
	defer ready.CloseIdleConnections()
	isReady, err := ready.Ready(ctx)
	require.NoError(t, err, "/readyz needs no token")
	assert.False(t, isReady, "/readyz answers 503 while paused")

	out, err = ctl("pause", "nope")
	assert.Error(t, err, "an unknown gate fails")
	assert.Contains(t, out, "no listener named")
	wrong, err := exec.CommandContext(ctx, bin, "ctl", "--admin", admin, "--token-file", writeToken(t, "wrong-0123456789abcdef", 0o600), "pause").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(wrong), "401")
	assert.Contains(t, string(wrong), "check the token", "a real 401 says what to check")
	assert.NotContains(t, string(wrong), "wrong-0123456789abcdef")
	noToken, err := exec.CommandContext(ctx, bin, "ctl", "--admin", admin, "pause").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(noToken), "401", "the unix socket still needs the token when one is set")

	out, err = ctl("resume")
	require.NoError(t, err, out)
	select {
	case b := <-answered:
		assert.Equal(t, "hello\n", b)
	case <-time.After(patience):
		t.Fatal("queued client not served after resume")
	}
	isReady, err = ready.Ready(ctx)
	require.NoError(t, err)
	assert.True(t, isReady)

	// The keep-alive connection is idle now; SIGINT must not wait for it.
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		assert.NoError(t, err, "serve exits cleanly")
		exited <- nil
	case <-time.After(patience):
		t.Fatal("serve did not stop on SIGINT")
	}
	_, err = os.Lstat(admin)
	assert.ErrorIs(t, err, os.ErrNotExist, "the admin socket is removed at exit")
}

// TestServeRefusesTokensOthersCouldRead: serve and ctl refuse a token file
// others may read, an empty one, and a token on the command line, without
// ever printing the token.
func TestServeRefusesTokensOthersCouldRead(t *testing.T) {
	bin := build(t)
	const secret = "s3cret-e2e"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"token file readable by others", []string{"--token-file", writeToken(t, secret, 0o644)}, "chmod 600"},
		{"token file readable by the group", []string{"--token-file", writeToken(t, secret, 0o640)}, "mode 0640"},
		{"empty token file", []string{"--token-file", writeToken(t, "", 0o600)}, "empty"},
		{"token on the command line", []string{"--token", secret}, "process list"},
		{"token on the command line, with =", []string{"--token=" + secret}, "process list"},
	} {
		for _, cmd := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--admin", filepath.Join(t.TempDir(), "a.sock")}, {"ctl", "--admin", filepath.Join(t.TempDir(), "none.sock"), "status"}} {
			out, err := exec.Command(bin, append(cmd, tc.args...)...).CombinedOutput()
			assert.Error(t, err, "%s: %s", cmd[0], tc.name)
			assert.Contains(t, string(out), tc.want, "%s: %s", cmd[0], tc.name)
			assert.NotContains(t, string(out), secret, "%s: %s: the token is never printed", cmd[0], tc.name)
		}
	}
	env := exec.Command(bin, "ctl", "--admin", filepath.Join(t.TempDir(), "none.sock"), "status")
	env.Env = append(os.Environ(), "ACCEPTGATE_TOKEN_FILE="+writeToken(t, secret, 0o604))
	out, err := env.CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "chmod 600", "$ACCEPTGATE_TOKEN_FILE is checked the same way")
	assert.NotContains(t, string(out), secret)
}

// TestServeOnLoopbackWithoutAToken: the default configuration. curl and
// ctl change state without a token; a cross-site browser request and a
// request through DNS rebinding are refused with JSON, and change nothing.
func TestServeOnLoopbackWithoutAToken(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0")
	require.True(t, strings.HasPrefix(srv.admin, "http://127.0.0.1:"), srv.admin)
	c := &http.Client{Timeout: patience}
	defer c.CloseIdleConnections()
	// post sends what a web page's form or fetch would, with hdr, or, with
	// hdr nil, what curl -X POST sends.
	post := func(host string, hdr map[string]string) (int, string) {
		body := io.Reader(http.NoBody)
		if hdr != nil {
			body = strings.NewReader("pause=1")
		}
		req, err := http.NewRequestWithContext(ctx, "POST", srv.admin+"/v1/pause", body)
		require.NoError(t, err)
		if hdr != nil {
			req.Header.Set("Content-Type", "text/plain")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.True(t, json.Valid(b), "%s", b)
		return resp.StatusCode, string(b)
	}
	state := func() string {
		out, err := exec.CommandContext(ctx, bin, "ctl", "--admin", srv.admin, "--json", "status", "http").Output()
		require.NoError(t, err, "ctl on loopback needs no token")
		var vs []control.View
		require.NoError(t, json.Unmarshal(out, &vs))
		return vs[0].State
	}

	status, body := post("", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, 403, status, body)
	status, body = post("", map[string]string{"Origin": "https://evil.example"})
	assert.Equal(t, 403, status, "an older browser without Sec-Fetch-Site: %s", body)
	status, body = post("evil.example:9090", map[string]string{"Origin": "http://evil.example:9090", "Sec-Fetch-Site": "same-origin"})
	assert.Equal(t, 421, status, "DNS rebinding: %s", body)
	assert.Equal(t, "accepting", state())

	status, body = post("", nil)
	assert.Equal(t, 200, status, body)
	assert.Equal(t, "paused", state())
	out, err := exec.CommandContext(ctx, bin, "ctl", "--admin", srv.admin, "resume").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "accepting", state())
}

// TestServeAdminOverTLS: an admin API with a certificate and a token,
// reached by ctl over https with --cacert.
func TestServeAdminOverTLS(t *testing.T) {
	bin := build(t)
	certFile, keyFile := writeCert(t)
	tokenFile := writeToken(t, "tls-t0k-0123456789abcdef", 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	srv := startServe(t, ctx, bin, "--admin", "127.0.0.1:0", "--admin-cert", certFile, "--admin-key", keyFile, "--token-file", tokenFile)
	require.True(t, strings.HasPrefix(srv.admin, "https://127.0.0.1:"), srv.admin)
	out, err := exec.CommandContext(ctx, bin, "ctl", "--admin", srv.admin, "--cacert", certFile, "--token-file", tokenFile, "pause").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "paused")
	out, err = exec.CommandContext(ctx, bin, "ctl", "--admin", srv.admin, "--token-file", tokenFile, "status").CombinedOutput()
	assert.Error(t, err, "an unknown CA is refused")
	assert.Contains(t, string(out), "certificate")
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acceptgate e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestVersionAndHelp(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "acceptgate "))
	for _, cmd := range []string{"serve", "ctl"} {
		out, err := exec.Command(bin, "help", cmd).CombinedOutput()
		require.NoError(t, err, cmd)
		assert.Contains(t, string(out), "Usage: acceptgate "+cmd, cmd)
	}
	// --help is what an operator needs: the operator's commands, under the
	// names scripts call them by, none of the lab's, and where the lab is.
	for _, args := range [][]string{{"--help"}, {"help"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, args)
		for _, cmd := range []string{"serve", "ctl"} {
			assert.Contains(t, string(out), "\n  "+cmd+" ", "%v: %s among the operator's commands", args, cmd)
		}
		for _, cmd := range []string{"backlog", "handoff", "bench", "soak"} {
			assert.NotContains(t, string(out), "\n  "+cmd+" ", "%v: %s is the lab's", args, cmd)
		}
		assert.Contains(t, string(out), "go run ./lab -help", "%v: points to the lab", args)
	}
	for _, cmd := range []string{"backlog", "handoff", "bench", "soak", "handoff-generation"} {
		out, err := exec.Command(bin, cmd).CombinedOutput()
		assert.Error(t, err, "%s is the lab's", cmd)
		assert.Contains(t, string(out), "unknown command", cmd)
	}
	out, err = exec.Command(bin, "bogus").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "unknown command")
}

// TestServeHandlesJobControlSignalsOnlyWhenAsked: SIGTTOU is also what the
// kernel sends a background process that writes to a terminal with tostop
// set; a serve that handled it by default would pause instead of stopping.
// It is handled only with --signals.
func TestServeHandlesJobControlSignalsOnlyWhenAsked(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads the signals a process catches from /proc")
	}
	bin := build(t)
	for _, tc := range []struct {
		args   []string
		caught bool
	}{
		{nil, false},
		{[]string{"--signals"}, true},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			srv := startServe(t, ctx, bin, append([]string{"--admin", filepath.Join(t.TempDir(), "a.sock")}, tc.args...)...)
			resp, err := http.Get(srv.url) // served: the signals are set up by now
			require.NoError(t, err)
			resp.Body.Close()
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
			require.NoError(t, err)
			var caught uint64
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
					caught, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
					require.NoError(t, err)
				}
			}
			for _, sig := range []syscall.Signal{syscall.SIGTTOU, syscall.SIGTTIN} {
				assert.Equal(t, tc.caught, caught&(1<<(sig-1)) != 0, "%v caught", sig)
			}
		})
	}
}
