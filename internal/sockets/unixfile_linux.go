package sockets

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// From linux/unix_diag.h; golang.org/x/sys does not carry them.
const (
	udiagShowVFS   = 0x2 // UDIAG_SHOW_VFS
	unixDiagVFS    = 1   // UNIX_DIAG_VFS: struct unix_diag_vfs { u32 ino; u32 dev; }
	unixDiagReqLen = 24  // sizeof(struct unix_diag_req)
	unixDiagMsgLen = 16  // sizeof(struct unix_diag_msg)
)

// LeadsTo reports whether the file at path is the one the unix socket ln
// was bound to, wherever that file has been renamed since: false once
// another socket took the path (a new instance that removed it as stale
// and bound there). For a socket bound to no file (abstract, unnamed) it
// returns an error wrapping errors.ErrUnsupported. Only the kernel knows
// which file a socket is bound to; it says so through sock_diag
// (UNIX_DIAG_VFS), which needs no privilege.
func LeadsTo(ln any, path string) (bool, error) {
	var ino uint32
	err := control(ln, func(fd int) error {
		var err error
		ino, err = boundFile(fd)
		return err
	})
	if err != nil {
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	// The kernel reports the inode's low 32 bits. Its device is left out:
	// stat reports another one than the file system's own where a file
	// system shows several (btrfs subvolumes, an overlay's upper layer on
	// another file system), and a file another socket bound in the same
	// directory is on the same file system as the one this socket holds
	// on to, so its inode number differs.
	return uint32(st.Ino) == ino, nil
}

// boundFile asks sock_diag for the inode number of the file the unix
// socket fd is bound to.
func boundFile(fd int) (ino uint32, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, os.NewSyscallError("socket netlink", err)
	}
	defer unix.Close(nl)
	ne := binary.NativeEndian
	req := make([]byte, unix.NLMSG_HDRLEN+unixDiagReqLen)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], ^uint32(0)) // any state
	ne.PutUint32(r[8:], uint32(st.Ino))
	ne.PutUint32(r[12:], udiagShowVFS)
	ne.PutUint32(r[16:], ^uint32(0)) // no cookie: look up by inode alone
	ne.PutUint32(r[20:], ^uint32(0))
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, os.NewSyscallError("sendto netlink", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(nl, buf, 0)
	if err != nil {
		return 0, os.NewSyscallError("recvfrom netlink", err)
	}
	return parseBoundFile(buf[:n])
}

func parseBoundFile(b []byte) (ino uint32, err error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN {
		return 0, fmt.Errorf("sock_diag: short answer (%d bytes)", len(b))
	}
	l, typ := int(ne.Uint32(b[0:])), ne.Uint16(b[4:])
	if l > len(b) || l < unix.NLMSG_HDRLEN {
		return 0, fmt.Errorf("sock_diag: bad length %d", l)
	}
	body := b[unix.NLMSG_HDRLEN:l]
	switch {
	case typ == unix.NLMSG_ERROR && len(body) >= 4 && int32(ne.Uint32(body)) < 0:
		return 0, os.NewSyscallError("sock_diag", unix.Errno(-int32(ne.Uint32(body))))
	case typ != unix.SOCK_DIAG_BY_FAMILY || len(body) < unixDiagMsgLen:
		return 0, fmt.Errorf("sock_diag: unexpected answer type %d", typ)
	}
	for attrs := body[unixDiagMsgLen:]; len(attrs) >= 4; {
		l, t := int(ne.Uint16(attrs[0:])), ne.Uint16(attrs[2:])
		if l < 4 || l > len(attrs) {
			break
		}
		if t == unixDiagVFS && l >= 12 {
			return ne.Uint32(attrs[4:]), nil
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	// Bound to no file (abstract, unnamed), or a kernel that does not
	// say: unknown, not another's.
	return 0, fmt.Errorf("sock_diag: no UNIX_DIAG_VFS in the answer: %w", errUnsupported)
}
