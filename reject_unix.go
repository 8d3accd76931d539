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

// refusalMethod says how rejectOpLocked would refuse clients of s.
func (s *socket) refusalMethod() string {
	if !s.canReject() {
		return "not supported for this socket (" + s.ln.Addr().Network() + " " + s.ln.Addr().String() + ")"
	}
	if _, ok := s.ln.Addr().(*net.UnixAddr); ok {
		return "hidden: the path leads to a socket that refuses, while the listener waits beside it; Resume renames it back"
	}
	return s.tcpRefusalMethod()
}

// rejectOpLocked makes s refuse new clients. It returns the socket that stands
// for the rejecting Listener; on error the Listener goes on as it was, and
// the connections taken out of the kernel meanwhile are in l.pending.
//
// A unix socket with a path is hidden (hide_unix.go); a TCP socket is
// fenced or stopped on Linux and closed elsewhere (rejectTCPOpLocked).
func (l *Listener) rejectOpLocked(s *socket) (*socket, error) {
	if ua, ok := s.ln.Addr().(*net.UnixAddr); ok {
		if err := pathTaken(s.ln, ua.Name); err != nil {
			return nil, err
		}
		typ, err := socketType(s.ln)
		if err != nil {
			return nil, err
		}
		h, err := hide(ua.Name, typ, s.faults)
		if err != nil {
			return nil, err
		}
		return s.refusing(h), nil
	}
	return l.rejectTCPOpLocked(s)
}

// closeListening closes a socket that does not refuse. A unix path that
// another socket took while the gate accepted or paused (a server that
// removes the path before it listens, stale or not) is left to that one.
func (s *socket) closeListening() error {
	var errs []error
	if err := pathTaken(s.ln, s.ln.Addr().String()); err != nil {
		s.ln.(unlinkSetter).SetUnlinkOnClose(false)
		errs = append(errs, err)
	}
	return errors.Join(append(errs, s.closeForOthers(nil))...)
}

// closeForOthers closes the socket's descriptor. The gate is done with it,
// but a socket it did not create may have other holders: restore, if not
// nil, first makes it listen as it did before Reject, and its error tells
// the caller that those holders may find it not listening.
func (s *socket) closeForOthers(restore func() error) error {
	var errs []error
	if !s.own && restore != nil {
		if err := restore(); err != nil {
			errs = append(errs, fmt.Errorf("listen again for the socket's other holders: %w", err))
		}
	}
	return errors.Join(append(errs, s.ln.Close())...)
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
// an IPv6-only one, "tcp" for a dual-stack one. Addr's text cannot tell: its
// Network is always "tcp", and 0.0.0.0 would come back dual-stack on [::].
func tcpNetwork(ln net.Listener) (string, error) {
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		return "", err
	}
	// A *net.TCPListener's address is the one getsockname gave when it was
	// made, its IP 4 bytes long for an AF_INET socket and 16 for AF_INET6:
	// it tells the family without a call (a handoff of many gates asks once
	// for each). Another listener's Addr may say anything.
	family := 0
	if tl, ok := ln.(*net.TCPListener); ok {
		if a, ok := tl.Addr().(*net.TCPAddr); ok {
			switch len(a.IP) {
			case net.IPv4len:
				return "tcp4", nil
			case net.IPv6len:
				family = unix.AF_INET6
			}
		}
	}
	network := "tcp"
	var serr error
	err = rc.Control(func(fd uintptr) {
		if family == 0 {
			sa, err := unix.Getsockname(int(fd))
			if err != nil {
				serr = os.NewSyscallError("getsockname", err)
				return
			}
			switch sa.(type) {
			case *unix.SockaddrInet4:
				network = "tcp4"
				return
			case *unix.SockaddrInet6:
				family = unix.AF_INET6
			}
		}
		if family == unix.AF_INET6 {
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
