package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// reserveTries bounds how many ports a listener asked for port 0 tries
// before it gives up finding one that is free on both loopback families.
const reserveTries = 16

// listenTCP listens on addr. When that is 127.0.0.1 or ::1, the two
// addresses a browser opening http://localhost:N/ tries (Chromium ::1
// first), it also reserves the same port on the other one, with a socket
// that refuses every client: otherwise another local user could listen
// there, take the browser that opens the admin page by that name, and with
// it the token typed into the page. A port the other family has taken
// makes it fail, with an error wrapping syscall.EADDRINUSE and nothing left
// listening; for port 0, it tries other ports first. Where the other
// address does not exist (IPv6 off), nobody can take it, and nothing is
// reserved.
func listenTCP(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	for try := 1; ; try++ {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		ta := ln.Addr().(*net.TCPAddr)
		other := otherLoopback(ta.IP)
		if other == nil {
			return ln, nil
		}
		held, err := sockets.Reserve(other, ta.Port)
		if err == nil && held == nil {
			return ln, nil
		}
		if err == nil {
			return &reservedListener{TCPListener: ln.(*net.TCPListener), reserved: held}, nil
		}
		ln.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || !anyPort(ctx, addr) || try == reserveTries {
			return nil, fmt.Errorf("%s, which a browser opening localhost:%d may try first, is not free: %w", net.JoinHostPort(other.String(), strconv.Itoa(ta.Port)), ta.Port, err)
		}
	}
}

// otherLoopback returns the loopback address of the other family to ip, if
// ip is one of those localhost names.
func otherLoopback(ip net.IP) net.IP {
	switch {
	case ip.Equal(net.IPv4(127, 0, 0, 1)):
		return net.IPv6loopback
	case ip.Equal(net.IPv6loopback):
		return net.IPv4(127, 0, 0, 1)
	}
	return nil
}

// anyPort reports whether addr leaves the port to the kernel.
func anyPort(ctx context.Context, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := net.DefaultResolver.LookupPort(ctx, "tcp", port)
	return err == nil && n == 0
}

// reservedListener is a TCP listener whose port is reserved on the other
// loopback family as well; Close lets both go. The socket's own methods
// (File, SyscallConn, SetDeadline) are the listener's.
type reservedListener struct {
	*net.TCPListener
	reserved io.Closer
	once     sync.Once
}

// Close stops listening and frees the reserved port.
func (l *reservedListener) Close() error {
	err := l.TCPListener.Close()
	l.once.Do(func() { l.reserved.Close() })
	return err
}

// ReserveLocalhost reserves, for an admin socket ListenAdmin did not make
// (one systemd passed, or one taken over from the previous generation in an
// upgrade), what ListenAdmin reserves for its own: addr's port on the other
// loopback family, with a socket that refuses every client. Close the
// returned Closer once the admin API stops. For an address other than
// 127.0.0.1 and ::1, or where the other family does not exist, it reserves
// nothing and the Closer does nothing. A port taken there is an error
// wrapping syscall.EADDRINUSE. On Linux the reservation shares the port
// with reservations of the same user only, so that a new generation
// reserves it beside the old one, which lets it go when it exits.
func ReserveLocalhost(addr net.Addr) (io.Closer, error) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return nopCloser{}, nil
	}
	other := otherLoopback(ta.IP)
	if other == nil {
		return nopCloser{}, nil
	}
	held, err := sockets.Reserve(other, ta.Port)
	if err != nil {
		return nil, fmt.Errorf("control: %s, which a browser opening localhost:%d may try first, is not free: %w", net.JoinHostPort(other.String(), strconv.Itoa(ta.Port)), ta.Port, err)
	}
	if held == nil {
		return nopCloser{}, nil
	}
	return held, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
