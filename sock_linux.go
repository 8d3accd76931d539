package acceptgate

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func unixSocket(typ int) (int, error) {
	return unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
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
