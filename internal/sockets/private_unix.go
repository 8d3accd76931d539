//go:build unix

package sockets

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// CheckPrivate returns an error unless path is a socket file owned by this
// user that no one else may connect to: an abstract name (which has no
// file: lstat would look at whatever file of that name the working
// directory holds), another kind of file, a socket of another user, or one
// with group or other bits is refused. A umask can also take the owner's
// own bits away (0277 leaves r--------, which nobody can connect to); those
// are given back, which opens the file to no one else.
func CheckPrivate(path string) error {
	perm, err := checkOwnSocket(path, false)
	if err != nil {
		return err
	}
	if perm != 0o600 {
		return os.Chmod(path, 0o600)
	}
	return nil
}

// CheckOwnerOnly returns an error unless path is a socket file, owned by
// this user or root, that no other user may connect to: what CheckPrivate
// refuses, but for a socket this process did not make (one systemd passed,
// root's with SocketMode=0600, or one taken over), which it neither chmods
// nor wants to be this user's.
func CheckOwnerOnly(path string) error {
	_, err := checkOwnSocket(path, true)
	return err
}

// checkOwnSocket checks that path is a socket file of this user (or root,
// if rootToo) with no group or other bits, and returns its permissions.
func checkOwnSocket(path string, rootToo bool) (os.FileMode, error) {
	if err := refuseAbstract(path); err != nil {
		return 0, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return 0, fmt.Errorf("%s is not a socket", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if me := uint32(os.Geteuid()); st.Uid != me && !(rootToo && st.Uid == 0) {
			who := "this user"
			if rootToo {
				who = "this user or root"
			}
			return 0, fmt.Errorf("%s belongs to uid %d, not to %s (uid %d)", path, st.Uid, who, me)
		}
	}
	perm := fi.Mode().Perm()
	if perm&0o077 != 0 {
		return 0, fmt.Errorf("%s has mode %04o, not private to its owner", path, perm)
	}
	return perm, nil
}

// ListenViaPrivateDir listens on a unix socket at path that only its owner
// may connect to, on systems where bind gives the socket file whatever mode
// the umask leaves (the BSDs and macOS take no mode from the socket). It
// binds in a new directory of mode 0700 beside path, which no other user may
// enter, makes the file 0600 there, and only then links it at path: link,
// unlike rename, fails rather than replace a file that appeared at path
// meanwhile. The temporary name and directory are removed before it returns.
func ListenViaPrivateDir(ctx context.Context, network, path string) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".acceptgate-admin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, tmp)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the name to remove is path, not tmp
	if err := os.Chmod(tmp, 0o600); err != nil {
		ul.Close()
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		ul.Close()
		return nil, err
	}
	return &linkedSocket{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: network}}, nil
}

// linkedSocket is a unix listener reached by a path other than the one it
// was bound to. Close removes that path, once, as a net.UnixListener removes
// its own.
type linkedSocket struct {
	*net.UnixListener
	addr   *net.UnixAddr
	unlink sync.Once
}

// Addr returns the path clients connect to.
func (l *linkedSocket) Addr() net.Addr { return l.addr }

// Close stops listening and removes the socket file.
func (l *linkedSocket) Close() error {
	err := l.UnixListener.Close()
	l.unlink.Do(func() { os.Remove(l.addr.Name) })
	return err
}
