//go:build unix

package acceptgate_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// otherOwnerEnv, set, makes TestRejectASocketAnotherUserOwns the service:
// it takes the listening socket as descriptor 3, as from systemd, and
// rejects with it. The value says what the test expects.
const otherOwnerEnv = "ACCEPTGATE_TEST_OTHER_OWNER"

// A service user is given a unix socket root made, in a directory the
// service may write (systemd's socket units, a RuntimeDirectory). Reject
// works without privilege when the socket's mode lets every user connect or
// none but root: the socket that refuses at the path can grant exactly
// that. Where it cannot (the mode tells users apart by owner or group), or
// where the directory is not the service's to change, Reject fails with an
// error wrapping os.ErrPermission and changes nothing; so it does in a
// sticky directory, where only a file's owner may move it.
func TestRejectASocketAnotherUserOwns(t *testing.T) {
	if want := os.Getenv(otherOwnerEnv); want != "" {
		serviceRejects(t, want == "reject")
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a socket root owns and run a service as nobody")
	}
	bin := copyOfTestBinary(t)
	for _, tc := range []struct {
		name       string
		mode       os.FileMode
		group      int
		serviceDir bool // the directory is the service user's
		sticky     bool // root's, and anyone may make files there, as /tmp
		reject     bool
	}{
		{name: "anyone may connect", mode: 0o666, serviceDir: true, reject: true},
		{name: "only root may connect", mode: 0o600, serviceDir: true, reject: true},
		{name: "the service's group may connect", mode: 0o660, group: 65534, serviceDir: true, reject: true},
		{name: "only root's group may connect", mode: 0o660, serviceDir: true},
		{name: "directory not the service's", mode: 0o666},
		{name: "sticky directory", mode: 0o666, sticky: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := anyoneMayEnter(t)
			if tc.sticky {
				require.NoError(t, os.Chmod(dir, os.ModeSticky|0o777))
			}
			if tc.serviceDir {
				require.NoError(t, os.Chown(dir, 65534, 65534))
			}
			path := filepath.Join(dir, "gate.sock")
			ln, err := net.Listen("unix", path)
			require.NoError(t, err)
			defer ln.Close()
			require.NoError(t, os.Chown(path, 0, tc.group))
			require.NoError(t, os.Chmod(path, tc.mode))
			before, err := os.Lstat(path)
			require.NoError(t, err)
			f, err := ln.(*net.UnixListener).File()
			require.NoError(t, err)
			defer f.Close()

			cmd := exec.Command(bin, "-test.run=^TestRejectASocketAnotherUserOwns$", "-test.v", "-test.count=1")
			want := "fail"
			if tc.reject {
				want = "reject"
			}
			cmd.Env = append(os.Environ(), otherOwnerEnv+"="+want)
			if os.Getenv("GORACE") == "" {
				cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0") // a race-enabled child would wait a second at exit
			}
			cmd.ExtraFiles = []*os.File{f}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "the service as nobody:\n%s", out)

			after, err := os.Lstat(path)
			require.NoError(t, err, "the path is still there")
			assert.True(t, os.SameFile(before, after), "the path leads to root's socket again")
			assert.Equal(t, tc.mode, after.Mode().Perm())
			assert.EqualValues(t, 0, after.Sys().(*syscall.Stat_t).Uid, "still root's")
			assert.EqualValues(t, tc.group, after.Sys().(*syscall.Stat_t).Gid)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "nothing left beside it: %v", entries)
			ch := acceptAsync(t, ln)
			c := dial(t, ln.Addr())
			defer c.Close()
			r := receive(t, ch)
			require.NoError(t, r.err, "root's socket takes clients")
			r.c.Close()
		})
	}
}

// serviceRejects is the service's side: it wraps the socket it inherited,
// rejects, and checks what a client of its own user sees.
func serviceRejects(t *testing.T, canReject bool) {
	ln, err := net.FileListener(os.NewFile(3, "inherited"))
	require.NoError(t, err)
	l := acceptgate.Wrap(ln)
	defer l.Close()
	path := l.Addr().String()
	before, err := os.Lstat(path)
	require.NoError(t, err)
	mayConnect := syscall.Access(path, 2 /* W_OK */) == nil

	err = l.Reject()
	if !canReject {
		require.Error(t, err)
		t.Log(err)
		assert.ErrorIs(t, err, os.ErrPermission)
		assert.Equal(t, acceptgate.Accepting, l.State())
		after, err := os.Lstat(path)
		require.NoError(t, err)
		assert.True(t, os.SameFile(before, after), "the path still leads to the socket")
		return
	}
	require.NoError(t, err)
	if mayConnect {
		refused(t, l.Addr()) // a client that may connect is refused, not denied
	} else {
		_, err := net.DialTimeout("unix", path, patience)
		assert.ErrorIs(t, err, os.ErrPermission, "a client that may not connect is still denied")
	}
	require.NoError(t, l.Resume())
	after, err := os.Lstat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "the path leads to the socket again")
	require.NoError(t, l.Reject())
	require.NoError(t, l.Close(), "Close gives the path back to the socket, which others hold")
}

// anyoneMayEnter returns a new directory other users may enter, removed
// after the test (t.TempDir's parents are private to root).
func anyoneMayEnter(t *testing.T) string {
	d, err := os.MkdirTemp("", "acceptgate-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	require.NoError(t, os.Chmod(d, 0o755))
	return d
}

// copyOfTestBinary returns a copy of the test binary that nobody may run.
func copyOfTestBinary(t *testing.T) string {
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	bin := filepath.Join(anyoneMayEnter(t), "acceptgate.test")
	require.NoError(t, os.WriteFile(bin, self, 0o755))
	return bin
}
