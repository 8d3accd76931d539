// Package listener creates listening sockets with the options servers ask
// for (SO_REUSEPORT, the listen backlog, TCP_DEFER_ACCEPT, TCP_FASTOPEN), and
// binds a new socket to a listener's exact address.
//
// Features a platform lacks return errors wrapping errors.ErrUnsupported.
package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// Config holds the options of a listening socket. The zero value gives what
// net.Listen gives.
type Config struct {
	// ReusePort sets SO_REUSEPORT, so that several sockets, in one process or
	// several, can listen on the same address and share its clients.
	ReusePort bool

	// ReuseAddr sets SO_REUSEADDR. Go already sets it on every TCP listener
	// on Unix systems; on Windows it is unsupported, as it would let another
	// socket steal the port.
	ReuseAddr bool

	// Backlog is the length of the accept queue. Zero means the system
	// maximum, which is what Go asks for. The kernel cuts a larger value to
	// its maximum silently; package backlog tells the maximum.
	Backlog int

	// DeferAccept sets TCP_DEFER_ACCEPT (Linux): a client is queued only
	// once it has sent data, or after this long.
	DeferAccept time.Duration

	// FastOpen sets the TCP_FASTOPEN queue length (Linux).
	FastOpen int
}

// Listen announces on the local network address with c's options, like
// net.ListenConfig.Listen. The network must be "tcp", "tcp4", "tcp6" or
// "unix".
func (c Config) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	lc := net.ListenConfig{Control: func(nw, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = setOptions(fd, nw, c) }); cerr != nil {
			return cerr
		}
		return err
	}}
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if c.Backlog > 0 {
		// net.Listen always asks for the system maximum; a second listen()
		// on the same socket sets the length asked for.
		if err := sockets.Relisten(ln, c.Backlog); err != nil {
			ln.Close()
			return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.Addr(), Err: fmt.Errorf("backlog %d: %w", c.Backlog, err)}
		}
	}
	return ln, nil
}

// Rebind listens anew on addr, the exact address (port included) of an
// earlier listener, with c's options. For a unix socket it first removes a
// stale socket file left at the path. Errors are *net.OpError, as Listen's.
//
// A TCP address says "tcp" whatever the socket was: an IPv4 wildcard
// address comes back dual-stack. To bind exactly the family an earlier
// socket had, call Listen with "tcp4" or "tcp6".
func (c Config) Rebind(ctx context.Context, addr net.Addr) (net.Listener, error) {
	if ua, ok := addr.(*net.UnixAddr); ok {
		if err := sockets.RemoveStale(ua.Name); err != nil {
			return nil, &net.OpError{Op: "listen", Net: "unix", Addr: addr, Err: err}
		}
	}
	return c.Listen(ctx, addr.Network(), addr.String())
}

var errUnsupported = fmt.Errorf("not on %s: %w", runtime.GOOS, errors.ErrUnsupported)
