//go:build unix

package sockets

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// maxBacklog asks listen() for the system maximum: every kernel here cuts a
// larger value down to it.
const maxBacklog = 1 << 16

// Relisten calls listen() again on the socket of ln, a *net.TCPListener or
// *net.UnixListener. On a listening socket it changes the length of the
// accept queue. On a socket stopped by StopListening it makes it listen
// again; it first binds the listener's address again, so that a socket that
// was bound to port 0 comes back on the port it had. backlog <= 0 asks for
// the system maximum.
//
// If another socket took the address meanwhile, Relisten returns an error
// wrapping syscall.EADDRINUSE and the socket stays as it was.
func Relisten(ln net.Listener, backlog int) error {
	if backlog <= 0 {
		backlog = maxBacklog
	}
	return control(ln, func(fd int) error {
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && listening == 0 {
			// Stopped: the kernel may have given a port-0 socket's port back.
			// EINVAL means the socket is still bound, which is what we want.
			sa, err := boundAddr(fd, ln.Addr())
			if err != nil {
				return err
			}
			if sa != nil {
				if err := unix.Bind(fd, sa); err != nil && err != unix.EINVAL {
					return os.NewSyscallError("bind", err)
				}
			}
		}
		return os.NewSyscallError("listen", unix.Listen(fd, backlog))
	})
}

// AcceptQueued takes every connection waiting in ln's accept queue without
// blocking, and returns them. ln must be a *net.TCPListener or
// *net.UnixListener, or expose its socket the same way.
func AcceptQueued(ln net.Listener) ([]net.Conn, error) {
	var conns []net.Conn
	err := control(ln, func(fd int) error {
		for {
			nfd, err := acceptNonblock(fd)
			switch {
			case err == unix.EINTR || err == unix.ECONNABORTED:
				continue
			case err == unix.EAGAIN:
				return nil
			case err != nil:
				return os.NewSyscallError("accept", err)
			}
			c, err := fileConn(nfd)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
	})
	return conns, err
}

func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "accepted")
	defer f.Close() // FileConn holds a duplicate
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("accepted connection: %w", err)
	}
	return c, nil
}

// boundAddr returns the address to bind fd to again: the socket's own,
// with the port ln reports (the kernel may have cleared it).
func boundAddr(fd int, addr net.Addr) (unix.Sockaddr, error) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, nil // a unix socket keeps its path
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		sa.Port = ta.Port
	case *unix.SockaddrInet6:
		sa.Port = ta.Port
	}
	return sa, nil
}
