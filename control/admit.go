package control

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// admit decides, before any route runs, whether r may go on. It returns 0 to
// let r in, or the status to refuse it with and why. public is true for
// /readyz and the page, which need no token. probe is true for /readyz
// alone, which also answers whatever Host names the server: load balancers
// and probes send none (HAProxy's httpchk sends HTTP/1.0 without one), an
// IP or a name of their own, and what it tells, the gates' states, is no
// secret a rebound page could use.
//
// The order matters only for which refusal a client sees first: the checks
// that hold without a token (peer, Host), then the browser check, then the
// token.
func (h *Handler) admit(r *http.Request, public, probe bool) (status int, reason string) {
	if !h.hasToken && !overUnixSocket(r) {
		// No token stands between a local attacker and the gates, so only
		// local clients may call, and they must name this server as only a
		// local client would: a web page that rebound its own name to
		// 127.0.0.1 still sends that name in Host.
		if !loopbackPeer(r.RemoteAddr) {
			return http.StatusForbidden, "no token is set, so only loopback clients may call; client " + clip(r.RemoteAddr)
		}
		if !probe && !h.hostAllowed(r.Host) {
			return http.StatusMisdirectedRequest, fmt.Sprintf("Host %q is not a loopback address, localhost or an allowed name", clip(r.Host))
		}
	}
	// A browser on another site can send a "simple" POST (text/plain, no
	// preflight) that carries no token but still reaches us: refuse every
	// unsafe cross-origin browser request, whatever its content type.
	if err := h.cop.Check(r); err != nil {
		return http.StatusForbidden, err.Error()
	}
	if !public {
		if h.tokenErr != nil {
			// Fail closed: a token too weak to use is no reason to serve
			// without one.
			return http.StatusInternalServerError, "the admin API's own token is refused: " + h.tokenErr.Error()
		}
		if reason := h.authenticate(r); reason != "" {
			return http.StatusUnauthorized, "missing or wrong bearer token: " + reason
		}
	}
	return 0, ""
}

// authenticate checks the bearer token of r, if the Handler has one, and
// says what is wrong with it, never what it is. The scheme name is
// case-insensitive (RFC 9110, section 11.1); the token is compared by its
// SHA-256 sum, in constant time, so neither its bytes nor its length leak
// through timing.
func (h *Handler) authenticate(r *http.Request) string {
	if !h.hasToken {
		return ""
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "no Authorization header"
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "Authorization scheme is not Bearer"
	}
	sum := sha256.Sum256([]byte(strings.TrimLeft(cred, " ")))
	if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
		return "wrong token"
	}
	return ""
}

// overUnixSocket reports whether r came over a unix socket, which no
// browser can reach and only users the socket's mode lets in can use.
func overUnixSocket(r *http.Request) bool {
	_, ok := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr)
	return ok
}

// loopbackPeer reports whether remote, an http.Request's RemoteAddr, is a
// loopback address.
func loopbackPeer(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// hostAllowed reports whether host, an http.Request's Host, names this
// server as a local client would: a loopback address, "localhost", or a
// name given to WithAllowedHosts, with or without a port.
func (h *Handler) hostAllowed(host string) bool {
	name := host
	if n, _, err := net.SplitHostPort(host); err == nil {
		name = n
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.Unmap().IsLoopback()
	}
	name = strings.ToLower(name)
	return name == "localhost" || h.hosts[name]
}

// refuse answers r with status and reason, and logs it. It closes the
// connection after the answer: a client refused once has no use for it, and
// a keep-alive connection held open would count against the listener's
// limit (WithMaxConns) for as long as the client likes.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.audit.refused(r, status, reason)
	w.Header().Set("Connection", "close")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="acceptgate"`)
	}
	writeError(w, status, reason)
}

// clip shortens a client's string for an answer or a log line, so that a
// client cannot make either large.
func clip(s string) string {
	const max = 128
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		// Printable ASCII only, so that the logger has nothing to escape and
		// a line stays as short as the cut says.
		if c := s[i]; c >= ' ' && c <= '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if b.Len() < len(s) {
		b.WriteString("...")
	}
	return b.String()
}
