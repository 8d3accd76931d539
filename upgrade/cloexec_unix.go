//go:build unix

package upgrade

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeOnExecListed marks close-on-exec every descriptor from 3 on that
// dir (/proc/self/fd, /dev/fd) lists.
func closeOnExecListed(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close() // before marking: its own descriptor is in the list
	if err != nil {
		return err
	}
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}
