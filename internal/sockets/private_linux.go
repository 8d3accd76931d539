package sockets

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TestHookBeforeBind, if set (by tests), is called with the descriptor of the
// socket ListenPrivate makes after its mode is set and before it is bound.
var TestHookBeforeBind func(fd int)

// ListenPrivate listens on a unix socket at path that only its owner
// may connect to. When bind creates the socket file, Linux gives it the mode
// of the socket's own inode less the umask (unix_bind in
// net/unix/af_unix.c), so an fchmod(0600) of the socket before bind makes
// the file private from its first instant, whatever the umask, with no
// chmod after the fact. An abstract name is refused (see refuseAbstract).
func ListenPrivate(ctx context.Context, network, path string) (net.Listener, error) {
	if err := refuseAbstract(path); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.Fchmod(int(fd), 0o600); err != nil {
				err = os.NewSyscallError("fchmod", err)
				return
			}
			if TestHookBeforeBind != nil {
				TestHookBeforeBind(int(fd))
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	return lc.Listen(ctx, network, path)
}
