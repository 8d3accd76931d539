package control

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// testHookBeforeBind, if set, is called with the socket's descriptor after
// its mode is set and before it is bound.
var testHookBeforeBind func(fd int)

// listenPrivateSocket listens on a unix socket at path that only its owner
// may connect to. When bind creates the socket file, Linux gives it the mode
// of the socket's own inode less the umask (unix_bind in
// net/unix/af_unix.c), so an fchmod(0600) of the socket before bind makes
// the file private from its first instant, whatever the umask, with no
// chmod after the fact.
func listenPrivateSocket(ctx context.Context, path string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.Fchmod(int(fd), 0o600); err != nil {
				err = os.NewSyscallError("fchmod", err)
				return
			}
			if testHookBeforeBind != nil {
				testHookBeforeBind(int(fd))
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	return lc.Listen(ctx, "unix", path)
}
