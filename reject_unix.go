//go:build unix

package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

func (s *socket) canReject() bool {
	if _, ok := s.ln.(syscall.Conn); !ok {
		return false
	}
	switch a := s.ln.Addr().(type) {
	case *net.TCPAddr:
		return true
	case *net.UnixAddr:
		// Abstract and unnamed sockets have no path to refuse at. Closing
		// must be able to leave the path alone once another socket took it.
		_, keeps := s.ln.(unlinkSetter)
		return a.Name != "" && a.Name[0] != '@' && keeps
	}
	return false
}

// rejectOpLocked makes s refuse new clients. It returns the socket that stands
// for the rejecting Listener; on error the Listener goes on as it was, and
// the connections taken out of the kernel meanwhile are in l.pending.
func (l *Listener) rejectOpLocked(s *socket) (*socket, error) {
	if ua, ok := s.ln.Addr().(*net.UnixAddr); ok {
		if err := pathTaken(s.ln, ua.Name); err != nil {
			return nil, err
		}
		typ, err := socketType(s.ln)
		if err != nil {
			return nil, err
		}
		h, err := hide(ua.Name, typ)
		if err != nil {
			return nil, err
		}
		ns := s.accepting()
		ns.hidden = h
		return ns, nil
	}
	return l.rejectTCPOpLocked(s)
}

// liftOpLocked makes a rejecting s take clients again. On error the Listener
// stays rejecting, with the socket returned if it is not nil.
func (l *Listener) liftOpLocked(s *socket) (*socket, error) {
	if s.hidden != nil {
		if err := s.hidden.unhide(); err != nil {
			return nil, err
		}
		return s.accepting(), nil
	}
	return l.liftTCPOpLocked(s)
}

func (s *socket) close() error {
	var errs []error
	if s.hidden != nil {
		if s.own {
			// Refuse connects first: a client that reached the listener
			// between the rename below and its close would be admitted,
			// then reset. Best effort: where shutdown does not refuse on a
			// listening unix socket, the window stays as narrow as it was.
			controlFD(s.ln, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RD) })
		}
		// Give the path back to the listener, so that closing it removes the
		// path or leaves it, as that listener was made to.
		if err := s.hidden.unhide(); err != nil {
			if u, ok := s.ln.(unlinkSetter); ok && !s.hidden.holdsPath() {
				// Another socket took the path (a new instance that found
				// it stale): closing must not remove that one's file.
				u.SetUnlinkOnClose(false)
			}
			s.hidden.discard()
			errs = append(errs, err)
		}
	} else if err := pathTaken(s.ln, s.ln.Addr().String()); err != nil {
		// Taken while the gate accepted or paused, by a server that
		// removes the path before it listens, stale or not.
		s.ln.(unlinkSetter).SetUnlinkOnClose(false)
		errs = append(errs, err)
	}
	if s.mustBind {
		return errors.Join(errs...)
	}
	if !s.own {
		// Closed all the same: the gate is done with it. The error tells
		// the caller that the others who hold it may find it not listening.
		if err := s.restoreForOthers(); err != nil {
			errs = append(errs, fmt.Errorf("listen again for the socket's other holders: %w", err))
		}
	}
	errs = append(errs, s.ln.Close())
	return errors.Join(errs...)
}

// pathTaken returns an error wrapping syscall.EADDRINUSE if s is a unix
// listener whose path leads to another socket's file: one that a new
// instance bound there after removing the listener's (as servers that
// clear the path before they listen do, stale or not). The gate leaves
// such a path alone. Where the kernel cannot tell which file a socket is
// bound to (only Linux can), the path is taken to be the listener's.
func pathTaken(ln net.Listener, path string) error {
	if _, ok := ln.(unlinkSetter); !ok {
		return nil
	}
	if a, ok := ln.Addr().(*net.UnixAddr); !ok || a.Name == "" || a.Name[0] == '@' {
		return nil
	}
	if leads, err := sockets.LeadsTo(ln, path); err != nil || leads {
		return nil
	}
	return fmt.Errorf("%s leads to another socket: %w", path, syscall.EADDRINUSE)
}

// unlinkSetter is a unix listener that can be told whether Close removes
// its path, as *net.UnixListener.
type unlinkSetter interface{ SetUnlinkOnClose(bool) }

// socketType returns the type of ln's socket (SOCK_STREAM, SOCK_SEQPACKET).
func socketType(ln net.Listener) (int, error) {
	var typ int
	err := controlFD(ln, func(fd int) error {
		var err error
		typ, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		return os.NewSyscallError("getsockopt SO_TYPE", err)
	})
	return typ, err
}

// tcpNetwork returns the network to bind a new socket at ln's address with,
// so that it takes the same clients: "tcp4" for an IPv4 socket, "tcp6" for
// an IPv6-only one, "tcp" for a dual-stack one. Addr alone cannot tell: its
// Network is always "tcp", and 0.0.0.0 would come back dual-stack on [::].
func tcpNetwork(ln net.Listener) (string, error) {
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		return "", err
	}
	network := "tcp"
	var serr error
	err = rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if err != nil {
			serr = os.NewSyscallError("getsockname", err)
			return
		}
		switch sa.(type) {
		case *unix.SockaddrInet4:
			network = "tcp4"
		case *unix.SockaddrInet6:
			if only, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err == nil && only != 0 {
				network = "tcp6"
			}
		}
	})
	if err != nil {
		return "", err
	}
	return network, serr
}
