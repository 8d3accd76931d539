package sockets

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// PeerUID returns the user id of the process at the other end of a unix
// socket connection, as the kernel recorded it at connect (SO_PEERCRED).
func PeerUID(conn net.Conn) (uint32, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, errUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, os.NewSyscallError("getsockopt SO_PEERCRED", cerr)
	}
	return cred.Uid, nil
}
