package control

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkServer refuses a unix socket whose server runs as neither this user
// nor root, as the kernel tells with SO_PEERCRED, or whose file belongs to
// another user.
func checkServer(conn net.Conn, path string) error {
	if err := fileOwner(path); err != nil {
		return err
	}
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return err
	}
	if cerr != nil {
		return os.NewSyscallError("getsockopt SO_PEERCRED", cerr)
	}
	return serverUser(path, cred.Uid)
}

func serverUser(path string, uid uint32) error {
	if me := uint32(os.Geteuid()); uid != me && uid != 0 {
		return fmt.Errorf("control: %s is served by uid %d, not by this user (uid %d) or root; not talking to it", path, uid, me)
	}
	return nil
}
