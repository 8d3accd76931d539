//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// fileOwner refuses a socket file that belongs to neither this user nor
// root.
func fileOwner(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if me := uint32(os.Geteuid()); st.Uid != me && st.Uid != 0 {
		return fmt.Errorf("control: %s belongs to uid %d, not to this user (uid %d) or root; not talking to it", path, st.Uid, me)
	}
	return nil
}
