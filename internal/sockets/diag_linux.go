package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// From linux/inet_diag.h and linux/tcp_states.h.
const (
	tcpSynRecv       = 3  // TCP_SYN_RECV: request sockets report this state
	tcpListen        = 10 // TCP_LISTEN
	inetDiagReqV2Len = 56 // sizeof(struct inet_diag_req_v2)
	inetDiagMsgLen   = 72 // sizeof(struct inet_diag_msg)
)

// Diag is a sock_diag netlink socket. The kernel answers it for the network
// namespace of the thread that opened it, wherever it is used from later:
// a goroutine that counts for a socket of another namespace (a server
// made in one a test or tool entered on a locked thread) opens it there.
type Diag struct{ fd int }

// OpenDiag opens a sock_diag socket in this thread's network namespace.
func OpenDiag() (*Diag, error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, os.NewSyscallError("socket netlink", err)
	}
	return &Diag{fd: nl}, nil
}

// Close closes the socket.
func (d *Diag) Close() error { return unix.Close(d.fd) }

// Handshakes counts the request sockets on the address and port of the
// TCP listener fd: clients whose handshake the kernel has begun (SYN_RECV)
// but not yet completed into an accept queue, as `ss -tn state syn-recv`
// lists them. A listener bound to the wildcard address counts them on every
// address. sock_diag needs no privilege for it.
//
// The kernel does not tell which listener a request socket belongs to: its
// answer for one has no inode, no owner, and the request's own cookie (see
// inet_req_diag_fill). The members of an SO_REUSEPORT group are all counted.
func (d *Diag) Handshakes(fd uintptr) (int, error) {
	local, err := localOf(fd)
	if err != nil {
		return 0, err
	}
	n := 0
	err = d.dumpTCP(local.family, 1<<tcpSynRecv, func(m diagMsg) {
		if m.state() == tcpSynRecv && m.port() == local.port && (local.wildcard() || m.addr(len(local.addr)) == string(local.addr)) {
			n++
		}
	})
	return n, err
}

// Listeners counts the TCP sockets listening on exactly the address, port
// and interface fd is bound to, fd's included: more than one are the
// listening members of an SO_REUSEPORT group.
func (d *Diag) Listeners(fd uintptr) (int, error) {
	local, err := localOf(fd)
	if err != nil {
		return 0, err
	}
	// 0 where the socket is bound to no interface, as sock_diag reports it.
	dev, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt SO_BINDTOIFINDEX", err)
	}
	n := 0
	err = d.dumpTCP(local.family, 1<<tcpListen, func(m diagMsg) {
		if m.state() == tcpListen && m.port() == local.port && m.addr(len(local.addr)) == string(local.addr) && m.dev() == dev {
			n++
		}
	})
	return n, err
}

// local is where a TCP socket is bound.
type local struct {
	family uint8
	port   int
	addr   []byte
}

func (l local) wildcard() bool {
	for _, x := range l.addr {
		if x != 0 {
			return false
		}
	}
	return true
}

func localOf(fd uintptr) (local, error) {
	sa, err := unix.Getsockname(int(fd))
	if err != nil {
		return local{}, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return local{unix.AF_INET, sa.Port, sa.Addr[:]}, nil
	case *unix.SockaddrInet6:
		return local{unix.AF_INET6, sa.Port, sa.Addr[:]}, nil
	}
	return local{}, fmt.Errorf("not a TCP socket: %w", errors.ErrUnsupported)
}

// diagMsg is one struct inet_diag_msg: family, state, timer, retrans, then
// the socket id: sport and dport in network order, src and dst (16 bytes
// each), the interface, the cookie.
type diagMsg []byte

func (m diagMsg) state() uint8         { return m[1] }
func (m diagMsg) port() int            { return int(binary.BigEndian.Uint16(m[4:])) }
func (m diagMsg) addr(size int) string { return string(m[8 : 8+size]) }
func (m diagMsg) dev() int             { return int(binary.NativeEndian.Uint32(m[40:])) }

// dumpTCP asks sock_diag for every TCP socket of family in one of states (a
// bit mask of TCP states) and calls f on each.
func (d *Diag) dumpTCP(family uint8, states uint32, f func(diagMsg)) error {
	nl := d.fd

	ne := binary.NativeEndian
	req := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqV2Len)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], states)
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto netlink", err)
	}
	buf := make([]byte, 32<<10)
	for {
		m, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom netlink", err)
		}
		done, err := readDump(buf[:m], f)
		if err != nil || done {
			return err
		}
	}
}

// readDump reads one datagram of a sock_diag dump, calling f on each socket
// in it, and reports whether the dump is done.
func readDump(b []byte, f func(diagMsg)) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l, typ := int(ne.Uint32(b[0:])), ne.Uint16(b[4:])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, fmt.Errorf("sock_diag: bad length %d", l)
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(ne.Uint32(body)); errno < 0 {
					return false, os.NewSyscallError("sock_diag", unix.Errno(-errno))
				}
			}
			return false, fmt.Errorf("sock_diag: error answer")
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) < inetDiagMsgLen {
				return false, fmt.Errorf("sock_diag: short message (%d bytes)", len(body))
			}
			f(diagMsg(body))
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return false, nil
}
