package acceptgate

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func unixSocket(typ int) (int, error) {
	return unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
}

// swap exchanges the parked socket at h.link with the listener's file at
// the path in one step (renameat2 RENAME_EXCHANGE): a client finds one
// socket or the other, and the listener's file needs no second name, which
// Linux refuses for a file another user owns (fs.protected_hardlinks), as
// the socket systemd made for an unprivileged service. A file system that
// cannot exchange (EINVAL) gets the link and the rename.
func (h *hiding) swap() error {
	err := unix.Renameat2(unix.AT_FDCWD, h.link, unix.AT_FDCWD, h.path, unix.RENAME_EXCHANGE)
	switch err {
	case nil:
		return nil
	case unix.EINVAL, unix.ENOSYS:
		return h.linkAndMove()
	}
	return &os.LinkError{Op: "exchange", Old: h.link, New: h.path, Err: err}
}

// bindIn binds fd to name in dir through the directory's descriptor, so
// that the address stays short: a socket's path may have at most 107 bytes,
// and dir is a directory beside a path that may already come close.
func bindIn(fd int, dir, name string) error {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return unix.Bind(fd, &unix.SockaddrUnix{Name: fmt.Sprintf("/proc/self/fd/%d/%s", d, name)})
}
