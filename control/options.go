package control

import (
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"
)

// An Option configures a Handler made by NewHandler or signal handling set
// up by HandleSignals; each says where it applies.
type Option func(*settings)

type settings struct {
	tokenSum [sha256.Size]byte // of the token; comparing sums hides its length
	hasToken bool
	tokenErr error           // what is wrong with WithToken's token; nil if nothing
	hosts    map[string]bool // names allowed in Host beyond loopback, lower case
	logger   *slog.Logger
	extra    map[string]http.Handler // WithHandler's routes, by path
	badPaths []string                // given to WithHandler and left out

	drainHook func() // WithDrainHook

	maxConns       int           // WithMaxConns: of ListenAdmin's listener
	requestTimeout time.Duration // WithTimeouts: of NewServer's server
	idleTimeout    time.Duration
}

func newSettings(opts []Option) settings {
	s := settings{hosts: make(map[string]bool), extra: make(map[string]http.Handler), logger: slog.Default(),
		maxConns: DefaultMaxConns, requestTimeout: defaultRequestTimeout, idleTimeout: defaultIdleTimeout}
	for _, o := range opts {
		o(&s)
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s
}

// WithToken makes the Handler require "Authorization: Bearer token" on every
// route but /readyz; the scheme name may be in any case. The token is
// compared in constant time and never logged. An empty token means none.
//
// A token shorter than MinTokenLen, or one CheckToken would refuse or
// change (white space around it or in it, bytes that are not printable
// ASCII: no Authorization header carries it intact), is refused, never
// taken as no token: NewHandler logs it, the Handler answers every call
// that needs the token with 500 and serves none of them, and ListenAdmin
// returns an error (wrapping ErrShortToken for a short one). HandleSignals
// ignores it.
func WithToken(token string) Option {
	return func(h *settings) {
		h.hasToken = token != ""
		h.tokenSum = sha256.Sum256([]byte(token))
		h.tokenErr = nil
		if h.hasToken {
			h.tokenErr = checkTokenText(token)
		}
	}
}

// WithAllowedHosts adds names a client may use in the Host header of a
// Handler without a token, besides loopback addresses and "localhost": the
// names the operator reaches the admin API by, such as a /etc/hosts alias of
// 127.0.0.1. Names are compared without the port and regardless of case. A
// Handler with a token does not look at Host. HandleSignals ignores it.
func WithAllowedHosts(names ...string) Option {
	return func(h *settings) {
		for _, n := range names {
			if host, _, err := net.SplitHostPort(n); err == nil {
				n = host // the port is not compared
			}
			h.hosts[strings.ToLower(n)] = true
		}
	}
}

// WithLogger sets where state changes and refused requests (or signals) are
// logged, with who asked for them. The default, and nil, is slog.Default().
func WithLogger(logger *slog.Logger) Option {
	return func(s *settings) { s.logger = logger }
}

// WithHandler makes the Handler serve GET and HEAD requests for path with
// handler, such as a Prometheus exposition at "/metrics", behind the same
// admission rules as the API's own routes (token included). Its answers say
// "Cache-Control: no-store", whatever handler sets, as the API's do. Other methods
// are refused with 405, so handler never serves a request that could
// change state. The path is matched exactly, with or without a trailing
// slash; handler sees it without one. A path that is not absolute and clean,
// or that is the API's own ("/", "/readyz", "/v1" and below), is left out,
// and NewHandler logs it. A later WithHandler for the same path replaces an
// earlier one. HandleSignals ignores it.
func WithHandler(path string, handler http.Handler) Option {
	return func(s *settings) {
		if !extraPathAllowed(path) || handler == nil {
			s.badPaths = append(s.badPaths, path)
			return
		}
		s.extra[path] = handler
	}
}

func extraPathAllowed(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && p != "/" &&
		p != "/readyz" && p != "/v1" && !strings.HasPrefix(p, "/v1/")
}
