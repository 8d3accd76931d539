package backlog

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// From linux/inet_diag.h and linux/tcp_states.h.
const (
	tcpSynRecv       = 3  // TCP_SYN_RECV: request sockets report this state
	inetDiagReqV2Len = 56 // sizeof(struct inet_diag_req_v2)
	inetDiagMsgLen   = 72 // sizeof(struct inet_diag_msg)
)

// handshakesOf counts the request sockets of the TCP listener fd: clients
// whose handshake the kernel has begun (SYN_RECV) but not yet completed into
// the accept queue, as `ss -tn state syn-recv` lists them. The dump is
// filtered by local port and address in user space; sock_diag needs no
// privilege for it.
func handshakesOf(fd uintptr) (int, error) {
	sa, err := unix.Getsockname(int(fd))
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	var family uint8
	var port int
	var addr []byte
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		family, port, addr = unix.AF_INET, sa.Port, sa.Addr[:]
	case *unix.SockaddrInet6:
		family, port, addr = unix.AF_INET6, sa.Port, sa.Addr[:]
	default:
		return 0, fmt.Errorf("handshakes: not a TCP socket: %w", errUnsupported)
	}
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, os.NewSyscallError("socket netlink", err)
	}
	defer unix.Close(nl)

	ne := binary.NativeEndian
	req := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqV2Len)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpSynRecv)
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, os.NewSyscallError("sendto netlink", err)
	}
	n := 0
	buf := make([]byte, 32<<10)
	for {
		m, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return 0, os.NewSyscallError("recvfrom netlink", err)
		}
		done, count, err := countHandshakes(buf[:m], port, addr)
		if err != nil {
			return 0, err
		}
		n += count
		if done {
			return n, nil
		}
	}
}

// countHandshakes reads one datagram of a sock_diag dump and counts the
// sockets on port whose local address is addr (or any address when the
// listener is bound to the wildcard one).
func countHandshakes(b []byte, port int, addr []byte) (done bool, n int, err error) {
	ne := binary.NativeEndian
	wildcard := true
	for _, x := range addr {
		wildcard = wildcard && x == 0
	}
	for len(b) >= unix.NLMSG_HDRLEN {
		l, typ := int(ne.Uint32(b[0:])), ne.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, 0, fmt.Errorf("sock_diag: bad length %d", l)
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, n, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(ne.Uint32(body)); errno < 0 {
					return false, 0, os.NewSyscallError("sock_diag", unix.Errno(-errno))
				}
			}
			return false, 0, fmt.Errorf("sock_diag: error answer")
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) < inetDiagMsgLen {
				return false, 0, fmt.Errorf("sock_diag: short message (%d bytes)", len(body))
			}
			// inet_diag_msg: family, state, timer, retrans, then the socket
			// id: sport and dport in network order, src and dst (16 bytes each).
			sport := int(binary.BigEndian.Uint16(body[4:]))
			src := body[8 : 8+len(addr)]
			if body[1] == tcpSynRecv && sport == port && (wildcard || string(src) == string(addr)) {
				n++
			}
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return false, n, nil
}
