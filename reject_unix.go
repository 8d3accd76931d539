//go:build unix

package acceptgate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/listener"
)

func (s *socket) canReject() bool {
	if _, ok := s.ln.(syscall.Conn); !ok {
		return false
	}
	switch s.ln.Addr().(type) {
	case *net.TCPAddr, *net.UnixAddr:
		return true
	}
	return false
}

// reject takes out the connections the kernel has completed, so that none is
// reset, and stops the socket listening. On success the taken connections
// are pending and l.sock is the rejecting socket. l.mu must be held and no
// goroutine may be inside the socket's Accept.
func (l *Listener) reject(s *socket) error {
	var next *socket
	var conns []net.Conn
	var err error
	if ua, ok := s.ln.Addr().(*net.UnixAddr); ok {
		next, conns, err = rejectUnix(s, ua)
	} else {
		next, conns, err = rejectTCP(s)
	}
	// Whatever was taken out is delivered, even if stopping failed.
	l.pending = append(l.pending, conns...)
	if next != nil {
		l.sock.Store(next)
	}
	return err
}

// rejectUnix closes a unix listener, after putting a socket that does not
// listen at its path: new clients get ECONNREFUSED at once, and no client
// can join the queue between taking it out and closing. Without it, a Resume
// would find the path gone and clients would meanwhile see ENOENT.
func rejectUnix(s *socket, addr *net.UnixAddr) (*socket, []net.Conn, error) {
	next := &socket{ln: s.ln, cfg: s.cfg, closed: true}
	if fi, err := os.Stat(addr.Name); err == nil {
		next.mode = fi.Mode().Perm()
		p, err := park(addr.Name, next.mode)
		if err != nil {
			return nil, nil, err
		}
		next.parked = p
	}
	conns, err := listener.AcceptQueued(s.ln)
	if err != nil {
		if next.parked != nil {
			next.parked.close()
		}
		return nil, nil, err
	}
	if ul, ok := s.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the path is the parked socket's now
	}
	s.ln.Close()
	return next, conns, nil
}

func (s *socket) relisten() (*socket, error) {
	if !s.closed {
		return restartTCP(s)
	}
	ln, err := s.cfg.Rebind(context.Background(), s.ln.Addr())
	if err != nil {
		return nil, err
	}
	if s.parked != nil {
		s.parked.release()
	}
	ns := newSocket(ln, s.cfg)
	if ua, ok := ln.Addr().(*net.UnixAddr); ok && s.mode != 0 {
		ns.mode = s.mode
		if err := os.Chmod(ua.Name, s.mode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("keep mode of %s: %w", ua.Name, err)
		}
	}
	return ns, nil
}

// parking is a unix stream socket bound to a path and not listening.
type parking struct {
	fd   int
	path string
	ino  uint64 // of the socket file, to remove only our own
}

func park(path string, mode os.FileMode) (*parking, error) {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tmp := filepath.Join(filepath.Dir(path), ".ag"+hex.EncodeToString(suffix))
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	p := &parking{fd: fd, path: path}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("park %s: %w", path, os.NewSyscallError("bind", err))
	}
	if err := os.Chmod(tmp, mode); err == nil {
		err = os.Rename(tmp, path) // atomic: a client finds one socket or the other
		if err == nil {
			var st unix.Stat_t
			if err = unix.Lstat(path, &st); err == nil {
				p.ino = uint64(st.Ino)
				return p, nil
			}
		}
	}
	os.Remove(tmp)
	unix.Close(fd)
	return nil, fmt.Errorf("park %s: %w", path, err)
}

// release closes the parked socket, leaving the path to whoever holds it now.
func (p *parking) release() { unix.Close(p.fd) }

// close removes the path if it is still the parked socket's, and closes it.
func (p *parking) close() {
	var st unix.Stat_t
	if err := unix.Lstat(p.path, &st); err == nil && uint64(st.Ino) == p.ino {
		os.Remove(p.path)
	}
	p.release()
}
