//go:build unix && !aix

package listener

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// firstFD is the first descriptor a service manager passes (SD_LISTEN_FDS_START).
const firstFD = 3

// maxFDs bounds LISTEN_FDS, so that a bad value cannot make Systemd walk
// the descriptor table; systemd itself refuses far fewer per unit.
const maxFDs = 4096

// Systemd returns the sockets passed by systemd socket activation (or any
// manager speaking its protocol): LISTEN_FDS descriptors from 3 on, named
// by LISTEN_FDNAMES (separated by ':'), meant for the process whose id is
// LISTEN_PID. It returns nothing and no error when LISTEN_FDS is not set.
//
// It fails, and touches no descriptor, when LISTEN_PID is not this
// process (the variables were inherited from a parent they were meant
// for), when a variable is malformed, or when the names do not match the
// descriptors in number. On success every descriptor is marked
// close-on-exec, so that the process's own children do not inherit them,
// and, if unsetEnv, the three variables are removed from the environment,
// as sd_listen_fds does with unset_environment; on failure the environment
// is left as it was. One descriptor that should listen and cannot (a
// stopped socket whose address another took meanwhile) does not fail the
// others: it is returned as a File, and Sockets.Listener says why.
//
// The sockets are not owned as Listen's are: a gate wrapping one (Wrap)
// leaves the socket listening for the manager when it closes, and never
// removes a unix socket's path.
func Systemd(unsetEnv bool) (Sockets, error) {
	nfds, ok := os.LookupEnv("LISTEN_FDS")
	if !ok {
		return nil, nil
	}
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil {
		return nil, fmt.Errorf("listener: LISTEN_PID=%q: not a process id", clipEnv(os.Getenv("LISTEN_PID")))
	}
	if pid != os.Getpid() {
		return nil, fmt.Errorf("listener: LISTEN_PID is %d, not this process (%d): the sockets were passed to another process", pid, os.Getpid())
	}
	n, err := strconv.Atoi(nfds)
	if err != nil || n < 0 || n > maxFDs {
		return nil, fmt.Errorf("listener: LISTEN_FDS=%q: want a count from 0 to %d", clipEnv(nfds), maxFDs)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = Unnamed
	}
	if v, ok := os.LookupEnv("LISTEN_FDNAMES"); ok && n > 0 {
		given := strings.Split(v, ":")
		if len(given) != n {
			return nil, fmt.Errorf("listener: LISTEN_FDNAMES has %d names for %d descriptors", len(given), n)
		}
		copy(names, given)
	}
	// Check every descriptor before taking any, so that a bad one leaves
	// them all as they were.
	for i := range n {
		if _, err := unix.FcntlInt(uintptr(firstFD+i), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("listener: inherited descriptor %d (%q): %w", firstFD+i, names[i], os.NewSyscallError("fcntl", err))
		}
	}
	socks := make(Sockets, 0, n)
	for i, name := range names {
		fd := firstFD + i
		unix.CloseOnExec(fd)
		socks = append(socks, adopt(fd, name))
	}
	if unsetEnv {
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
		os.Unsetenv("LISTEN_PID")
	}
	return socks, nil
}

// adopt turns descriptor fd into a Socket: a net.Listener if it is a
// listening stream socket, else an *os.File. A socket that should listen
// and cannot is handed over as a File too, with why: one odd descriptor
// must not cost the process the others.
func adopt(fd int, name string) Socket {
	f := os.NewFile(uintptr(fd), "listen-fd-"+name)
	if stoppedStream(fd) {
		// A process that held it before stopped it to reject clients (a
		// gate does where it cannot fence the socket) and ended before it
		// listened again. The socket is the manager's: make it listen, as
		// the manager made it, rather than leave the service deaf.
		if err := listenAgain(fd); err != nil {
			return Socket{Name: name, File: f, err: fmt.Errorf("listener: inherited descriptor %d (%q) was stopped and cannot listen again: %w", fd, name, err)}
		}
	}
	if !listeningStream(fd) {
		return Socket{Name: name, File: f}
	}
	// FileListener works on a copy; the copy of a unix socket it makes is
	// one it will not unlink on Close.
	ln, err := net.FileListener(f)
	if err != nil {
		return Socket{Name: name, File: f, err: fmt.Errorf("listener: inherited descriptor %d (%q): %w", fd, name, err)}
	}
	f.Close()
	return Socket{Name: name, Listener: ln}
}

func listeningStream(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && on != 0
}

// stoppedStream reports whether fd is a stream socket bound to an address,
// neither listening nor connected, and never connected: a listening socket
// that was shut down. A connected socket (systemd's Accept=yes) is not one,
// whatever its state: once its connection ended (the client reset it, or
// both sides closed) the kernel no longer names its peer, but it still has
// the end of the stream to read, which a socket that never had a peer
// does not.
func stoppedStream(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on != 0 {
		return false
	}
	if _, err := unix.Getpeername(fd); err != unix.ENOTCONN {
		return false
	}
	if hadPeer(fd) {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port != 0
	case *unix.SockaddrInet6:
		return a.Port != 0
	case *unix.SockaddrUnix:
		return a.Name != ""
	}
	return false
}

// hadPeer reports whether a stream socket that is not connected has
// something to read: data, an error, or the end of a stream, which only a
// connection that ended has. Asked without waiting, so nothing is taken.
func hadPeer(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for range 3 {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || (n > 0 && pfd[0].Revents&unix.POLLIN != 0)
	}
	return true
}

// listenAgain makes a stopped socket listen on its address. The kernel may
// have given back the port of a socket bound to port 0 when it stopped, so
// it is bound again first; EINVAL says it still is.
func listenAgain(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	if err := unix.Bind(fd, sa); err != nil && err != unix.EINVAL {
		return os.NewSyscallError("bind", err)
	}
	return os.NewSyscallError("listen", unix.Listen(fd, unix.SOMAXCONN))
}

// clipEnv shortens a variable's value for an error message.
func clipEnv(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
