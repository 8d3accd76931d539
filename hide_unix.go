//go:build unix

package acceptgate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// hiding keeps a listening unix socket unreachable: its path leads to a
// socket that does not listen, so that clients are refused at once
// (ECONNREFUSED, not ENOENT), while the listener's socket file, moved to a
// directory only this user can enter, is kept there for Resume. The
// listener itself is untouched: its descriptor, queue, options and file
// mode survive, and nothing is bound again.
type hiding struct {
	path   string // where clients connect
	dir    string // private directory beside path
	link   string // the listener's socket file once swapped; renamed back on Resume
	parked int    // descriptor of the socket now at path
	ino    uint64 // of the parked socket's file, to tell it from another's
}

// hiding is a refusal: the listener goes on listening behind the parked
// socket, and Accept delivers what it had queued.
func (h *hiding) delivers() bool  { return true }
func (h *hiding) listening() bool { return true }

func (h *hiding) lift(_ *Listener, s *socket) (*socket, error) {
	if err := h.unhide(s.faults); err != nil {
		return nil, err
	}
	return s.accepting(), nil
}

// close gives the path back to the listener before closing it, so that the
// close removes the path or leaves it, as that listener was made to. A path
// that another socket took meanwhile (a new instance that found it stale)
// is left to that one.
func (h *hiding) close(s *socket) error {
	if s.own {
		// Refuse connects first: a client that reached the listener
		// between the rename back and its close would be admitted, then
		// reset. Best effort: where shutdown does not refuse on a
		// listening unix socket, the window stays as narrow as it was.
		controlFD(s.ln, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RD) })
	}
	var errs []error
	if err := h.unhide(s.faults); err != nil {
		if u, ok := s.ln.(unlinkSetter); ok && !h.holdsPath() {
			u.SetUnlinkOnClose(false)
		}
		h.discard()
		errs = append(errs, err)
	}
	return errors.Join(append(errs, s.closeForOthers(nil))...)
}

// describe says where the listener's file waits, and gives its mode, the
// one a client meets once it is back; the parked socket goes with it
// (extraFDs).
func (h *hiding) describe(hs *handover.Socket) error {
	hs.Reject = handover.RejectHidden
	hs.Hidden = &handover.Hidden{Dir: h.dir, Link: h.link, Ino: h.ino}
	if fi, err := os.Lstat(h.link); err == nil {
		hs.Mode = fi.Mode().Perm()
	}
	return nil
}

func (h *hiding) extraFDs() []int { return []int{h.parked} }

func (h *hiding) letGo() error {
	if h.parked < 0 {
		return nil
	}
	err := unix.Close(h.parked)
	h.parked = -1
	return err
}

func hide(path string, typ int, f *faults.Set) (*hiding, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("hide %s: not a socket", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("hide %s: no owner to keep", path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ag") // 0700
	if err != nil {
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	h := &hiding{path: path, dir: dir, link: filepath.Join(dir, "l"), parked: -1}
	if err := h.setUp(f, typ, fi.Mode().Perm(), fileOwner{int(st.Uid), int(st.Gid)}); err != nil {
		h.discard()
		return nil, fmt.Errorf("hide %s: %w", path, err)
	}
	return h, nil
}

type fileOwner struct{ uid, gid int }

// setUp binds the parked socket at h.link, gives it the path's owner and
// mode, and swaps it with the listener's file. Until the swap, which either
// happens whole or not at all, clients see nothing of it.
func (h *hiding) setUp(f *faults.Set, typ int, mode os.FileMode, owner fileOwner) error {
	fd, err := parkedSocket(f, h.dir, filepath.Base(h.link), typ)
	if err != nil {
		return err
	}
	h.parked = fd
	if err := standIn(h.link, mode, owner); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(h.link, &st); err != nil {
		return os.NewSyscallError("lstat", err)
	}
	h.ino = uint64(st.Ino)
	// Both faults name this one step: elsewhere it is a link and a rename,
	// on Linux one exchange of the two files.
	if err := f.Check(faults.Link); err != nil {
		return err
	}
	if err := f.Check(faults.Rename); err != nil {
		return err
	}
	return h.swap()
}

// standIn gives the parked socket's file at name the path's owner, group
// and mode before it takes the path, so that the path never grants more,
// nor less, than it did: a client allowed to connect is refused, not
// denied. Only root may give a file to another user; a process that may
// not keeps the file its own, with a group and mode that let the same users
// connect, where there are such (see connectMode).
func standIn(name string, mode os.FileMode, owner fileOwner) error {
	err := os.Lchown(name, owner.uid, owner.gid)
	if errors.Is(err, os.ErrPermission) {
		var gid int
		if gid, mode, err = connectMode(mode, owner); err == nil {
			err = os.Lchown(name, -1, gid)
		}
	}
	if err != nil {
		return err
	}
	return os.Chmod(name, mode)
}

// connectMode returns a group and a mode for a socket file owned by this
// process's user that let the same users connect as mode does on a file of
// owner (connecting takes write permission; root may connect anywhere).
// This user's own write bit is the one it had on the old file; the group's
// and the others' stay, with the group, if this user may give the file
// that group. There is no such mode, and it returns an error wrapping
// os.ErrPermission, where the old file tells its owner (neither root nor
// this user) or its group's members apart from the others by an owner or
// group this user cannot give. There always is one for systemd's default
// mode 0666 and for a mode that lets no one but root in.
func connectMode(mode os.FileMode, owner fileOwner) (int, os.FileMode, error) {
	const wu, wg, wo = 0o200, 0o020, 0o002
	w := func(bit os.FileMode) bool { return mode&bit != 0 }
	uid := os.Geteuid()
	member := isMember(owner.gid)
	mine := w(wo)
	if uid == owner.uid {
		mine = w(wu)
	} else if member {
		mine = w(wg)
	}
	ownerApart := owner.uid != 0 && owner.uid != uid
	gid, g, o := owner.gid, w(wg), w(wo)
	ok := !ownerApart || w(wu) == g && g == o
	if !member {
		// The group's members fall among the others of the new file.
		gid, g = os.Getegid(), o
		ok = w(wg) == o && (!ownerApart || w(wu) == o)
	}
	if !ok {
		return 0, 0, fmt.Errorf("a socket refusing in place of one owned by %d:%d with mode %04o needs that owner and group, which only root may give: %w",
			owner.uid, owner.gid, mode, os.ErrPermission)
	}
	m := mode &^ (wu | wg | wo)
	for _, b := range []struct {
		on  bool
		bit os.FileMode
	}{{mine, wu}, {g, wg}, {o, wo}} {
		if b.on {
			m |= b.bit
		}
	}
	return gid, m, nil
}

// isMember reports whether this process may give a file it owns group gid.
func isMember(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, _ := os.Getgroups()
	return slices.Contains(groups, gid)
}

// linkAndMove puts the parked socket at the path where two files cannot be
// exchanged: it gives the listener's file a second name at h.link, then
// moves the parked socket over the path, which is atomic: a client finds
// one socket or the other. Linux refuses the link for a file another user
// owns (fs.protected_hardlinks), as a socket systemd made.
func (h *hiding) linkAndMove() error {
	parked := filepath.Join(h.dir, "p")
	if err := os.Rename(h.link, parked); err != nil {
		return err
	}
	if err := os.Link(h.path, h.link); err != nil {
		return err
	}
	return os.Rename(parked, h.path)
}

// parkedSocket binds a unix socket of type typ (the listener's, so that its
// clients are refused rather than told the type is wrong) to name in dir
// without listening on it.
func parkedSocket(f *faults.Set, dir, name string, typ int) (int, error) {
	if err := f.Check(faults.Park); err != nil {
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
func (h *hiding) unhide(f *faults.Set) error {
	var st unix.Stat_t
	if err := unix.Lstat(h.path, &st); err == nil && uint64(st.Ino) != h.ino {
		return fmt.Errorf("unhide %s: taken by another socket: %w", h.path, syscall.EADDRINUSE)
	}
	if err := f.Check(faults.Rename); err != nil {
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
