//go:build unix

package acceptgate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// describe says what s is in the terms another process needs to take it
// over in state st.
func describe(s *socket, st State) (handover.Socket, error) {
	if _, ok := s.ln.(syscall.Conn); !ok {
		return handover.Socket{}, fmt.Errorf("%T exposes no socket: %w", s.ln, errors.ErrUnsupported)
	}
	hs := handover.Socket{
		Address:     s.ln.Addr().String(),
		State:       st.String(),
		Own:         s.own,
		ReusePort:   s.cfg.ReusePort,
		ReuseAddr:   s.cfg.ReuseAddr,
		Backlog:     s.cfg.Backlog,
		DeferAccept: s.cfg.DeferAccept,
		FastOpen:    s.cfg.FastOpen,
		Files:       1,
	}
	if s.refusal != nil {
		if err := s.refusal.describe(&hs); err != nil {
			return handover.Socket{}, err
		}
		hs.Files += len(s.refusal.extraFDs())
	}
	if hs.Backlog <= 0 && s.listening() {
		if q, err := backlog.Of(s.ln.(syscall.Conn)); err == nil {
			hs.Backlog = q.Limit
		}
	}
	switch a := s.ln.Addr().(type) {
	case *net.TCPAddr:
		network, err := tcpNetwork(s.ln)
		if err != nil {
			return handover.Socket{}, err
		}
		hs.Network = network
	case *net.UnixAddr:
		if _, ok := s.ln.(*net.UnixListener); !ok {
			// Only a *net.UnixListener can be told not to remove its
			// path when it lets go of the socket.
			return handover.Socket{}, fmt.Errorf("%T: %w", s.ln, errors.ErrUnsupported)
		}
		hs.Network = a.Network() // unix or unixpacket: the taker checks the type
		// A hidden listener's file is not at its path; its describe gave
		// that file's mode.
		if fi, err := os.Lstat(a.Name); err == nil && hs.Reject != handover.RejectHidden {
			hs.Mode = fi.Mode().Perm()
		}
	default:
		return handover.Socket{}, fmt.Errorf("%s socket: %w", s.ln.Addr().Network(), errors.ErrUnsupported)
	}
	return hs, nil
}

// dupFDs returns duplicates of s's descriptors, in handover.Socket order.
func dupFDs(s *socket) ([]int, error) {
	var fds []int
	err := controlFD(s.ln, func(fd int) error {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
		}
		fds = append(fds, nfd)
		return nil
	})
	if err == nil && s.refusal != nil {
		for _, fd := range s.refusal.extraFDs() {
			var nfd int
			if nfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
				err = os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
				break
			}
			fds = append(fds, nfd)
		}
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	return fds, nil
}

func controlFD(ln net.Listener, f func(fd int) error) error {
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// letGo closes the socket's descriptors without touching the socket: no
// shutdown, no unlink, no fence lifted.
func (s *socket) letGo() error {
	if ul, ok := s.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	var errs []error
	if s.refusal != nil {
		errs = append(errs, s.refusal.letGo())
	}
	errs = append(errs, s.ln.Close())
	return errors.Join(errs...)
}

// adoptSocket makes the gate's socket from descriptors another process
// handed over, refusing clients as it did there if st is Rejecting. It
// closes files, keeping duplicates.
func adoptSocket(hs handover.Socket, st State, files []*os.File, cfg config) (*socket, error) {
	defer closeFiles(files)
	if len(files) != hs.Files || len(files) == 0 {
		return nil, fmt.Errorf("%d descriptors for a socket that has %d", len(files), hs.Files)
	}
	ln, err := net.FileListener(files[0])
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*socket, error) {
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		ln.Close()
		return nil, err
	}
	if got := ln.Addr().String(); got != hs.Address {
		return fail(fmt.Errorf("the descriptor is a socket on %s", got))
	}
	// FileListener takes any socket with an address of the right family:
	// a datagram or connected one would fail the first Accept.
	if err := checkAdopted(ln, hs.Network, hs.Reject == handover.RejectStopped); err != nil {
		return fail(err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		// Close removes the path as the listener that made it would have.
		ul.SetUnlinkOnClose(hs.Own)
	}
	s := newSocket(ln, cfg.socket, hs.Own, cfg.faults)
	if st != Rejecting {
		if hs.Reject != "" {
			return fail(fmt.Errorf("a %s socket handed over %s", hs.Reject, hs.State))
		}
		return s, nil
	}
	r, err := adoptRefusal(hs, ln, files, cfg.faults)
	if err != nil {
		return fail(err)
	}
	return s.refusing(r), nil
}

// adoptRefusal takes over the way a rejecting socket another process
// handed over refuses, as hs names it.
//
// Only a unix socket is hidden, and only a TCP one fenced or stopped: a
// description that names another way for its socket is refused, or the
// taker would report rejecting while its socket admits everyone.
func adoptRefusal(hs handover.Socket, ln net.Listener, files []*os.File, f *faults.Set) (refusal, error) {
	_, isUnix := ln.Addr().(*net.UnixAddr)
	if isUnix != (hs.Reject == handover.RejectHidden) {
		return nil, fmt.Errorf("a %s socket described as refusing %q", ln.Addr().Network(), hs.Reject)
	}
	if !isUnix {
		return adoptTCPRefusal(hs, ln, f)
	}
	if len(files) != 2 {
		return nil, fmt.Errorf("a hidden unix socket handed over without the socket parked at its path")
	}
	return adoptHiding(hs, files[1])
}

// checkAdopted returns an error unless ln is a socket of the type network
// names (SOCK_SEQPACKET for unixpacket, else a stream socket) that listens,
// or one that does not if stopped.
func checkAdopted(ln net.Listener, network string, stopped bool) error {
	// FileListener asked the kernel the socket's type, and made a
	// *net.TCPListener only of a stream socket; the network of a unix
	// listener's address is the one its type maps to (unix, unixgram or
	// unixpacket). A handoff of many gates saves a call for each.
	want := "unix"
	if network == "unixpacket" {
		want = network
	}
	switch ln := ln.(type) {
	case *net.TCPListener:
		if network == "unix" || network == "unixpacket" {
			return fmt.Errorf("the descriptor is a TCP socket, not a %s one", network)
		}
	case *net.UnixListener:
		if got := ln.Addr().Network(); got != want {
			return fmt.Errorf("the descriptor is a %s socket, not a %s one", got, want)
		}
	default:
		return fmt.Errorf("the descriptor makes a %T", ln)
	}
	return controlFD(ln, func(fd int) error {
		on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			return os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
		}
		switch listening := on != 0; {
		case stopped && listening:
			return errors.New("the socket listens, but is described as stopped")
		case !stopped && !listening:
			return errors.New("the socket does not listen")
		}
		return nil
	})
}

// adoptHiding takes over the hiding of a rejecting unix socket. The
// private directory must be the one hide makes beside the path, so that a
// description cannot make Resume rename files elsewhere.
func adoptHiding(hs handover.Socket, parked *os.File) (*hiding, error) {
	h := hs.Hidden
	if h == nil || filepath.Dir(h.Dir) != filepath.Dir(hs.Address) ||
		!strings.HasPrefix(filepath.Base(h.Dir), ".ag") || h.Link != filepath.Join(h.Dir, "l") {
		return nil, fmt.Errorf("hidden unix socket %s described with an unexpected place", hs.Address)
	}
	fd, err := unix.FcntlInt(parked.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	return &hiding{path: hs.Address, dir: h.Dir, link: h.Link, parked: fd, ino: h.Ino}, nil
}
