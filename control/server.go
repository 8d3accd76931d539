package control

import (
	"log"
	"net"
	"net/http"
	"time"

	"github.com/acceptgate/acceptgate"
)

// DefaultMaxConns is how many connections the listener ListenAdmin returns
// admits at once without WithMaxConns: enough for an operator's browser, a
// metrics scraper and a few ctl calls, few enough that no client, with a
// token or without, can take the process's descriptors from the port it
// serves.
const DefaultMaxConns = 32

// The default timeouts of NewServer's server; see WithTimeouts.
const (
	defaultRequestTimeout = 10 * time.Second
	defaultIdleTimeout    = 30 * time.Second
)

// WithMaxConns sets how many connections the listener ListenAdmin returns
// admits at once (DefaultMaxConns without it). While that many are open,
// further clients wait in the kernel's accept queue, holding no descriptor
// of the process, until one closes; NewServer's server closes one that
// sends nothing to make room (see NewServer). n <= 0 is ignored.
// HandleSignals ignores it.
func WithMaxConns(n int) Option {
	return func(s *settings) {
		if n > 0 {
			s.maxConns = n
		}
	}
}

// WithTimeouts sets the timeouts of the server NewServer returns: a
// client has request to send a request's header and body, and as long
// again, once the header is in, to have its answer written; a keep-alive
// connection waiting for its next request is closed after idle. The
// defaults are 10s and 30s; a value <= 0 leaves its default. HandleSignals
// ignores it.
func WithTimeouts(request, idle time.Duration) Option {
	return func(s *settings) {
		if request > 0 {
			s.requestTimeout = request
		}
		if idle > 0 {
			s.idleTimeout = idle
		}
	}
}

// NewServer returns an http.Server serving h as an admin API should be
// served, on the listener ListenAdmin returns or any other: it bounds how
// long a client may take to send a request, to read its answer and to sit
// idle between requests (see WithTimeouts), so that connections nobody uses
// are closed; and its ErrorLog, which net/http writes a line to for every
// failed TLS handshake, goes to h's logger through the same rate limit as
// refused requests, so that a flood of broken connections cannot fill a
// disk.
//
// Its ConnState hook keeps silent clients from holding every connection:
// while h's connection limit (WithMaxConns) is open, counting every
// connection of every server NewServer made for h, the connection silent
// longest, accepted or idle with no request header read since, is closed
// (under its TLS layer, if any) once it has been silent for 100 ms. That
// frees a slot of ListenAdmin's listener for the next client in the
// kernel's queue, so that an operator, whose request is sent at once, is
// reached after the silent clients queued before it, however many and
// however fast they connect again. A connection serving a request, or
// hijacked, is never closed. A client that needs more than 100 ms from
// being accepted to having its request header read (a slow TLS handshake
// over a long path) may be closed while the listener is full and has to
// try again.
//
// The caller may change any field before serving, such as Handler to serve
// a mux that h is mounted in; a ConnState of its own must call the one it
// replaces, or only the listener's bound holds, as with a bare http.Server.
func NewServer(h *Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: h.requestTimeout,
		ReadTimeout:       h.requestTimeout,
		WriteTimeout:      h.requestTimeout,
		IdleTimeout:       h.idleTimeout,
		ErrorLog:          log.New(serverLog{h.audit}, "", 0),
		ConnState:         h.shed.connState,
	}
}

// limit gates ln so that it admits at most h's connection limit at once.
// The gate, not netutil.LimitListener, so that serve can hand the socket
// over to a new instance as it does any gate.
func (h *Handler) limit(ln net.Listener) *acceptgate.Listener {
	return acceptgate.Wrap(ln, acceptgate.WithMaxConns(h.maxConns))
}

// serverLog is an http.Server's ErrorLog output: each line net/http logs
// becomes an audit line, under the audit's rate limit.
type serverLog struct{ a *auditor }

func (l serverLog) Write(p []byte) (int, error) {
	l.a.serverError(string(p))
	return len(p), nil
}
