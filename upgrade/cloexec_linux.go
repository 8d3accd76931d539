package upgrade

import (
	"errors"

	"golang.org/x/sys/unix"
)

// closeOnExecAll marks every descriptor from 3 on close-on-exec, with one
// close_range (Linux 5.11+), or one by one where the kernel is older.
func closeOnExecAll() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return closeOnExecListed("/proc/self/fd")
	}
	return err
}
