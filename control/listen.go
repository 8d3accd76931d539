package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// ErrNoToken is wrapped by the error ListenAdmin returns for a TCP address
// other than loopback when the Handler has no token.
var ErrNoToken = errors.New("admin API off loopback needs a token")

// ListenAdmin opens a listener for h. addr is a TCP host:port, or a unix
// socket path (anything containing a '/').
//
// A unix socket is private to its owner (mode 0600) from the instant it
// exists, whatever the umask: no other user can connect to it, not even
// between its creation and a chmod (see sockets.ListenPrivate for how, on each
// platform). A stale socket file nobody listens on is replaced; anything
// else at the path is left alone and reported. An abstract name (a leading
// '@' or a NUL byte) is refused, with an error wrapping os.ErrInvalid: it
// has no file, so nothing would keep other users out. tlsConfig must be nil
// for a unix socket.
//
// A Handler whose token WithToken refused (shorter than MinTokenLen, or
// with white space or bytes no header carries) is refused, with an error
// wrapping ErrShortToken for a short one.
//
// On 127.0.0.1 or ::1, the two addresses a browser opening localhost tries,
// it also reserves the same port on the other one (on Unix), with a socket
// that refuses every client, so that no other local user can listen there
// and take the page and the token typed into it. A port taken there is an
// error wrapping syscall.EADDRINUSE; for port 0 it picks a port free on
// both. Where the other address does not exist (IPv6 off), nothing needs
// reserving. Closing the listener frees both.
//
// A TCP address that is not loopback is refused unless h requires a token.
// With a tlsConfig, which must hold a certificate, the listener serves TLS;
// without one, an address off loopback is served in clear and ListenAdmin
// logs a warning, through h's logger, that the token travels in clear.
//
// The listener admits at most DefaultMaxConns connections at once (see
// WithMaxConns); the others wait in the kernel's accept queue, so that no
// client can take the descriptors the process needs for the port it
// serves. Without TLS it is an *acceptgate.Listener. Serve it with
// NewServer's server, whose timeouts close the connections nobody uses and
// which, while the listener is full, closes the one silent longest so that
// clients sending nothing cannot keep an operator out. With a bare
// http.Server only the bound holds: silent or idle clients may hold every
// connection the listener admits.
func ListenAdmin(ctx context.Context, addr string, h *Handler, tlsConfig *tls.Config) (net.Listener, error) {
	if h.tokenErr != nil {
		return nil, fmt.Errorf("control: admin on %s: %w", addr, h.tokenErr)
	}
	if isPath(addr) {
		if tlsConfig != nil {
			return nil, fmt.Errorf("control: admin socket %s: TLS on a unix socket: %w", addr, errors.ErrUnsupported)
		}
		ln, err := listenUnix(ctx, addr)
		if err != nil {
			return nil, err
		}
		return h.limit(ln), nil
	}
	if tlsConfig != nil && len(tlsConfig.Certificates) == 0 && tlsConfig.GetCertificate == nil && tlsConfig.GetConfigForClient == nil {
		return nil, fmt.Errorf("control: admin on %s: the TLS config has no certificate", addr)
	}
	local := loopback(ctx, addr)
	if !h.HasToken() && !local {
		return nil, fmt.Errorf("control: admin on %s: %w; set one, or listen on 127.0.0.1 or a unix socket", addr, ErrNoToken)
	}
	ln, err := listenTCP(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("control: admin: %w", err)
	}
	// The limit goes under TLS, so that a handshake too counts against it.
	gated := h.limit(ln)
	if tlsConfig != nil {
		return tls.NewListener(gated, tlsConfig.Clone()), nil
	}
	if !local {
		h.logger.Warn("control: admin API off loopback without TLS: the bearer token travels in clear; give it a certificate", "addr", ln.Addr().String())
	}
	return gated, nil
}

// listenUnix listens on a private unix socket at path and checks that it is
// private.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	if err := sockets.RemoveStale(path); err != nil {
		return nil, fmt.Errorf("control: admin socket: %w", err)
	}
	ln, err := sockets.ListenPrivate(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: admin socket: %w", err)
	}
	// The platform code makes the file private before anyone could connect;
	// this only refuses to serve if a platform did not do what it says.
	if err := sockets.CheckPrivate(path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: admin socket: %w", err)
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
