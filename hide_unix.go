//go:build unix

package acceptgate

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/acceptgate/acceptgate/internal/faults"
	"golang.org/x/sys/unix"
)

// hiding keeps a listening unix socket unreachable: its path leads to a
// socket that does not listen, so that clients are refused at once
// (ECONNREFUSED, not ENOENT), while a second name for the listener's socket
// file, in a directory only this user can enter, keeps it for Resume. The
// listener itself is untouched: its descriptor, queue, options and file
// mode survive, and nothing is bound again.
type hiding struct {
	path   string // where clients connect
	dir    string // private directory beside path
	link   string // the listener's socket file, renamed back on Resume
	parked int    // descriptor of the socket now at path
	ino    uint64 // of the parked socket's file, to tell it from another's
}

func hide(path string, typ int) (*hiding, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("hide %s: not a socket", path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ag") // 0700
	if err != nil {
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	h := &hiding{path: path, dir: dir, link: filepath.Join(dir, "l"), parked: -1}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		h.discard()
		return nil, fmt.Errorf("hide %s: no owner to keep", path)
	}
	if err := h.setUp(typ, fi.Mode().Perm(), fileOwner{int(st.Uid), int(st.Gid)}); err != nil {
		h.discard()
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	return h, nil
}

type fileOwner struct{ uid, gid int }

func (h *hiding) setUp(typ int, mode os.FileMode, owner fileOwner) error {
	if err := faults.Check(faults.Link); err != nil {
		return err
	}
	if err := os.Link(h.path, h.link); err != nil {
		return err
	}
	parked := filepath.Join(h.dir, "p")
	fd, err := parkedSocket(h.dir, "p", typ)
	if err != nil {
		return err
	}
	h.parked = fd
	// The parked socket takes the path's owner, group and mode before it
	// takes the path, so that the path never grants more, nor less, than it
	// did: a client allowed to connect is refused, not denied.
	if err := os.Lchown(parked, owner.uid, owner.gid); err != nil {
		return err
	}
	if err := os.Chmod(parked, mode); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(parked, &st); err != nil {
		return os.NewSyscallError("lstat", err)
	}
	h.ino = uint64(st.Ino)
	if err := faults.Check(faults.Rename); err != nil {
		return err
	}
	return os.Rename(parked, h.path) // atomic: a client finds one socket or the other
}

// parkedSocket binds a unix socket of type typ (the listener's, so that its
// clients are refused rather than told the type is wrong) to name in dir
// without listening on it.
func parkedSocket(dir, name string, typ int) (int, error) {
	if err := faults.Check(faults.Park); err != nil {
		return -1, err
	}
	fd, err := unixSocket(typ)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := bindIn(fd, dir, name); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

// unhide puts the listener's socket file back at the path and removes what
// hide made. A path that another socket took meanwhile is left to it, with
// an error wrapping syscall.EADDRINUSE. On error nothing has changed.
func (h *hiding) unhide() error {
	var st unix.Stat_t
	if err := unix.Lstat(h.path, &st); err == nil && uint64(st.Ino) != h.ino {
		return fmt.Errorf("unhide %s: taken by another socket: %w", h.path, syscall.EADDRINUSE)
	}
	if err := faults.Check(faults.Rename); err != nil {
		return fmt.Errorf("unhide %s: %w", h.path, err)
	}
	if err := os.Rename(h.link, h.path); err != nil {
		return fmt.Errorf("unhide %s: %w", h.path, err)
	}
	unix.Close(h.parked)
	h.parked = -1
	return os.Remove(h.dir)
}

// holdsPath reports whether the path still leads to the parked socket:
// no other socket took it meanwhile.
func (h *hiding) holdsPath() bool {
	var st unix.Stat_t
	return unix.Lstat(h.path, &st) == nil && uint64(st.Ino) == h.ino
}

// discard removes what hide made, leaving the path to whatever is there.
func (h *hiding) discard() {
	if h.parked >= 0 {
		unix.Close(h.parked)
		h.parked = -1
	}
	os.RemoveAll(h.dir)
}
