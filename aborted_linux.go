package acceptgate

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// clientGaveUp reports whether c's client closed without sending anything or
// reset, as far as the kernel can tell right now. It never reads from c: data
// the client sent stays for the server.
func clientGaveUp(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gaveUp := false
	switch c.LocalAddr().(type) {
	case *net.TCPAddr:
		rc.Control(func(fd uintptr) { gaveUp = tcpGaveUp(int(fd)) })
	case *net.UnixAddr:
		rc.Control(func(fd uintptr) { gaveUp = unixGaveUp(int(fd)) })
	}
	return gaveUp
}

// tcpGaveUp reads the connection's TCP state: a client still there keeps it
// ESTABLISHED; one that closed has had its FIN received (CLOSE_WAIT), and
// whether it sent anything first is in the receive queue (SIOCINQ does not
// count the FIN); one that reset has moved it to CLOSE.
func tcpGaveUp(fd int) bool {
	// The kernel copies as much of struct tcp_info as it is asked for, and
	// its first byte is the state: four bytes are read without allocating
	// the whole struct.
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return false
	}
	var head [4]byte
	binary.NativeEndian.PutUint32(head[:], uint32(v))
	switch head[0] {
	case unix.BPF_TCP_CLOSE:
		return true
	case unix.BPF_TCP_CLOSE_WAIT:
		n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		return err == nil && n == 0
	}
	return false
}

// unixGaveUp peeks at the connection without waiting: end of stream before
// any byte means the peer closed without sending; a peer still there gives
// EAGAIN, one that sent gives its first byte, left in place.
func unixGaveUp(fd int) bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return errors.Is(err, unix.ECONNRESET)
	}
	return n == 0
}
