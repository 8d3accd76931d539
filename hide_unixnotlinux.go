//go:build unix && !linux

package acceptgate

import (
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// unixSocket marks the descriptor close-on-exec under ForkLock, as package
// syscall does where SOCK_CLOEXEC is not everywhere.
func unixSocket(typ int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(unix.AF_UNIX, typ, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

// bindIn binds fd to name in dir. A path longer than a socket address holds
// fails, and Reject with it.
func bindIn(fd int, dir, name string) error {
	return unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(dir, name)})
}

// swap puts the parked socket at the path with a link and a rename: these
// systems have no exchange of two files that every version has.
func (h *hiding) swap() error { return h.linkAndMove() }
