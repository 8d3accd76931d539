package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/acceptgate/acceptgate/listener"
)

// ErrNoToken is wrapped by the error ListenAdmin returns for a TCP address
// other than loopback when the Handler has no token.
var ErrNoToken = errors.New("admin API off loopback needs a token")

// ListenAdmin opens a listener for h. addr is a TCP host:port, or a unix
// socket path (anything containing a '/'), created with mode 0600 so that
// only its owner may connect. A TCP address that is not loopback is refused
// unless h requires a token.
func ListenAdmin(ctx context.Context, addr string, h *Handler) (net.Listener, error) {
	if isPath(addr) {
		ln, err := listener.Config{}.Rebind(ctx, &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("control: admin socket: %w", err)
		}
		if err := os.Chmod(addr, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control: admin socket: %w", err)
		}
		return ln, nil
	}
	if !h.HasToken() && !loopback(ctx, addr) {
		return nil, fmt.Errorf("control: admin on %s: %w; set one, or listen on 127.0.0.1 or a unix socket", addr, ErrNoToken)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control: admin: %w", err)
	}
	return ln, nil
}

func isPath(addr string) bool { return strings.Contains(addr, "/") }

// loopback reports whether every address host resolves to is a loopback one.
func loopback(ctx context.Context, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false // ":9090" listens on every interface
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}
