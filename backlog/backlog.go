// Package backlog reads and sizes the kernel's accept queue of a live
// listener: how many completed connections wait for Accept, and how many fit.
//
// It works on anything with a SyscallConn method whose socket listens:
// *net.TCPListener, *net.UnixListener and *acceptgate.Listener. Platforms and
// socket kinds it cannot ask return errors wrapping errors.ErrUnsupported.
package backlog

import (
	"errors"
	"fmt"
	"syscall"
)

// Queue is a listener's accept queue as the kernel counts it.
type Queue struct {
	Len   int // connections completed and waiting for Accept
	Limit int // the backlog: Linux queues up to Limit+1 before dropping SYNs
}

// ErrAboveMax is wrapped by the error Resize returns when the backlog asked
// for is larger than the system maximum, which the kernel would silently use
// instead.
var ErrAboveMax = errors.New("backlog above the system maximum")

// Of returns the accept queue of the listening socket behind l.
func Of(l syscall.Conn) (Queue, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return Queue{}, fmt.Errorf("backlog: %w", err)
	}
	var q Queue
	var qerr error
	if err := rc.Control(func(fd uintptr) { q, qerr = queueOf(fd) }); err != nil {
		return Queue{}, fmt.Errorf("backlog: %w", err)
	}
	if qerr != nil {
		return Queue{}, fmt.Errorf("backlog: %w", qerr)
	}
	return q, nil
}

// Resize sets the length of l's accept queue by calling listen() again on its
// socket. A size above SystemMax is refused with an error wrapping
// ErrAboveMax, and nothing changes. So is a socket that does not listen
// (such as the one of a rejecting acceptgate.Listener that had to stop it):
// listen() would start it taking clients that no one accepts.
func Resize(l syscall.Conn, size int) error {
	if size <= 0 {
		return fmt.Errorf("backlog: resize to %d: size must be positive", size)
	}
	if max, err := SystemMax(); err == nil && size > max {
		return fmt.Errorf("backlog: resize to %d: %w (%d)", size, ErrAboveMax, max)
	}
	rc, err := l.SyscallConn()
	if err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = setBacklog(fd, size) }); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	if lerr != nil {
		return fmt.Errorf("backlog: resize to %d: %w", size, lerr)
	}
	return nil
}

// Handshakes returns how many clients are in the middle of connecting to the
// address and port of the TCP listener behind l: their SYN has arrived and
// the kernel answered it, but the handshake has not completed into an accept
// queue (request sockets in SYN_RECV, as `ss -tn state syn-recv` lists
// them). With TCP_DEFER_ACCEPT this includes clients that completed the
// handshake and have sent nothing yet. Such a client may already have seen
// its connect succeed; stopping its listener now would reset it.
//
// The kernel does not say which listener a request socket belongs to, so
// for a member of an SO_REUSEPORT group (see Listeners) the count is the
// whole group's, the other members' clients included. For a socket that
// listens alone on its address and port, it is the socket's own.
//
// It is Linux only, reads the kernel's sock_diag interface (no privilege is
// needed), and costs a netlink round trip over the network namespace's
// SYN_RECV sockets.
func Handshakes(l syscall.Conn) (int, error) { return count(l, handshakesOf) }

// Listeners returns how many TCP sockets listen on exactly the address, port
// and interface of the listener behind l, l's own included: more than one
// are the listening members of its SO_REUSEPORT group, among which the
// kernel shares new clients. Members that stopped listening are not
// counted.
//
// It is Linux only, reads the kernel's sock_diag interface (no privilege is
// needed), and costs a netlink round trip over the network namespace's
// listening sockets.
func Listeners(l syscall.Conn) (int, error) { return count(l, listenersOf) }

func count(l syscall.Conn, of func(fd uintptr) (int, error)) (int, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	var n int
	var oerr error
	if err := rc.Control(func(fd uintptr) { n, oerr = of(fd) }); err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	if oerr != nil {
		return 0, fmt.Errorf("backlog: %w", oerr)
	}
	return n, nil
}
