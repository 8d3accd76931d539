//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// checkTokenFile refuses a token file that anyone but its owner may read or
// change, or whose owner is neither this user nor root, as ssh does with a
// private key.
func checkTokenFile(fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("mode %04o lets other users read or change it; chmod 600 it", perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 {
			return fmt.Errorf("owned by uid %d, not by this user (uid %d) or root", st.Uid, uid)
		}
	}
	return nil
}

// openNoBlock opens path for reading without waiting, should it have become
// a FIFO since it was looked at.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
