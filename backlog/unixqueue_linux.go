package backlog

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// From linux/unix_diag.h; golang.org/x/sys does not carry them.
const (
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen  = 4    // UNIX_DIAG_RQLEN
	tcpListen      = 10   // TCP_LISTEN, as unix sockets report it
	unixDiagReqLen = 24   // sizeof(struct unix_diag_req)
	unixDiagMsgLen = 16   // sizeof(struct unix_diag_msg)
)

// unixQueueOf asks the kernel's sock_diag netlink interface about the unix
// socket fd by its inode. For a listener, UNIX_DIAG_RQLEN carries the
// connections waiting to be accepted and the backlog, as ss -xl shows them.
func unixQueueOf(fd uintptr) (Queue, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return Queue{}, os.NewSyscallError("fstat", err)
	}
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return Queue{}, os.NewSyscallError("socket netlink", err)
	}
	defer unix.Close(nl)

	req := make([]byte, unix.NLMSG_HDRLEN+unixDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], 1<<tcpListen)
	ne.PutUint32(r[8:], uint32(st.Ino))
	ne.PutUint32(r[12:], udiagShowRQLen)
	ne.PutUint32(r[16:], ^uint32(0)) // no cookie: look up by inode alone
	ne.PutUint32(r[20:], ^uint32(0))
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Queue{}, os.NewSyscallError("sendto netlink", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(nl, buf, 0)
	if err != nil {
		return Queue{}, os.NewSyscallError("recvfrom netlink", err)
	}
	return parseUnixDiag(buf[:n])
}

func parseUnixDiag(b []byte) (Queue, error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN {
		return Queue{}, fmt.Errorf("sock_diag: short answer (%d bytes)", len(b))
	}
	msgLen, typ := int(ne.Uint32(b[0:])), ne.Uint16(b[4:])
	if msgLen > len(b) || msgLen < unix.NLMSG_HDRLEN {
		return Queue{}, fmt.Errorf("sock_diag: bad length %d", msgLen)
	}
	body := b[unix.NLMSG_HDRLEN:msgLen]
	if typ == unix.NLMSG_ERROR {
		if len(body) >= 4 {
			if errno := int32(ne.Uint32(body)); errno < 0 {
				return Queue{}, os.NewSyscallError("sock_diag", unix.Errno(-errno))
			}
		}
		return Queue{}, fmt.Errorf("sock_diag: error answer")
	}
	if typ != unix.SOCK_DIAG_BY_FAMILY || len(body) < unixDiagMsgLen {
		return Queue{}, fmt.Errorf("sock_diag: unexpected answer type %d", typ)
	}
	if body[2] != tcpListen {
		return Queue{}, fmt.Errorf("socket is not listening: %w", unix.EINVAL)
	}
	for attrs := body[unixDiagMsgLen:]; len(attrs) >= 4; {
		l, t := int(ne.Uint16(attrs[0:])), ne.Uint16(attrs[2:])
		if l < 4 || l > len(attrs) {
			break
		}
		if t == unixDiagRQLen && l >= 12 {
			return Queue{Len: int(ne.Uint32(attrs[4:])), Limit: int(ne.Uint32(attrs[8:]))}, nil
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	return Queue{}, fmt.Errorf("sock_diag: no UNIX_DIAG_RQLEN in the answer")
}
