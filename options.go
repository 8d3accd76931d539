package acceptgate

import (
	"log/slog"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/listener"
)

// An Option configures a Listener made by Wrap or Listen.
type Option func(*config)

type config struct {
	// socket is what Listen creates the socket with, and what binds the
	// address again: base with the settings of WithReusePort and
	// WithBacklog laid over it. Every option that touches one of the three
	// computes it again, so that their order does not matter.
	socket     listener.Config
	base       listener.Config // WithSocketConfig
	reusePort  bool            // WithReusePort
	backlog    int             // WithBacklog, if backlogSet
	backlogSet bool
	track      bool
	maxConns   int
	hook       func(from, to State)
	logger     *slog.Logger
	skip       bool        // WithSkipAborted
	faults     *faults.Set // a test's faults for this gate (export_test.go)
}

// WithMaxConns limits the Listener to n accepted connections open at once, as
// golang.org/x/net/netutil.LimitListener does: while n are open, Accept takes
// nothing more from the kernel and further clients wait in its accept queue;
// closing one admits the next. It turns on connection tracking. n <= 0 means
// no limit.
func WithMaxConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConns = n
			c.track = true
		}
	}
}

// WithTracking makes the Listener keep count of the connections it hands out
// until they are closed, for Stats().Active and Shutdown. Tracked connections
// are wrapped; their NetConn method returns the underlying connection. A
// tracked connection has exactly the optional methods of the underlying one
// among CloseWrite, CloseRead, ReadFrom (io.ReaderFrom), WriteTo
// (io.WriterTo) and SyscallConn, so that net/http can half-close it and
// io.Copy reach sendfile and splice. Only Close gives the connection's slot
// back; CloseWrite and CloseRead do not.
func WithTracking() Option {
	return func(c *config) { c.track = true }
}

// WithSkipAborted makes Accept check each connection it takes from the
// kernel, or from those Reject took out, and close instead of returning one
// whose client has already given up: it closed without sending anything, or
// it reset the connection. Such clients waited in the queue while the
// Listener was paused and left; serving them is work for nobody. Accept then
// takes the next connection; Stats().Aborted counts the ones it closed.
//
// A client that sent data and then half-closed (CloseWrite) is delivered: it
// may be waiting for its answer. So is a client that is still connected,
// whether or not it has sent anything yet. The kernel cannot tell a
// half-close from a full close, so a client that sent its request and then
// gave up (most HTTP clients write the request as soon as they connect) is
// delivered too; what is skipped is a client that left before sending
// anything, such as a connect-and-close probe, and one that reset.
//
// The check is made on Linux, for TCP connections (from the socket's TCP
// state) and unix sockets (a peer that closed without sending anything), and
// costs a system call per connection (see docs/measurements.md).
// Elsewhere, and for connections without a SyscallConn method (such as
// *tls.Conn), the option changes nothing: every connection is delivered. A
// client that gives up after the check is delivered too, and so is a
// Multipath TCP client that left: Go's listeners accept MPTCP where the
// kernel offers it (Go 1.24 on), and the state the kernel reports for such
// a socket stays established after its client closed.
func WithSkipAborted() Option {
	return func(c *config) { c.skip = true }
}

// WithStateHook sets a function called after every state change, with the
// state left and the state entered. Calls are made one at a time, in the
// order of the changes, outside the Listener's lock, so the hook may call any
// of its methods, transitions included. Usually the goroutine that made a
// change calls the hook before its transition method returns; while another
// goroutine is inside the hook, that goroutine makes the call instead, once
// the hook returns, and the transition method may return first. A panic in
// the hook is recovered and logged. One at a time is per Listener: a hook
// given to several may be called by them at once (a handoff changes the
// states of its gates side by side), and must then be safe for that.
func WithStateHook(hook func(from, to State)) Option {
	return func(c *config) { c.hook = hook }
}

// WithLogger sets the logger that state changes are reported to, at level
// Info. By default nothing is logged.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) { c.logger = logger }
}

// WithReusePort makes Listen set SO_REUSEPORT, so that several sockets, in
// this process or others, can listen on the address and share its clients:
// one can Reject or Close while another takes over. It holds whatever the
// ReusePort field of a WithSocketConfig says, before or after it.
func WithReusePort() Option {
	return func(c *config) {
		c.reusePort = true
		c.resolveSocket()
	}
}

// WithBacklog makes Listen ask for an accept queue of n connections instead
// of the system maximum. Resume after Reject listens with it again. It
// overrides the Backlog field of a WithSocketConfig, before or after it; of
// several WithBacklog options the last one counts.
func WithBacklog(n int) Option {
	return func(c *config) {
		c.backlog, c.backlogSet = n, true
		c.resolveSocket()
	}
}

// WithSocketConfig makes Listen create the socket with cfg, for the options
// that have no Option of their own (TCP_DEFER_ACCEPT, TCP_FASTOPEN). The
// order of the options does not matter: WithReusePort and WithBacklog, given
// before or after it, override cfg's ReusePort and Backlog. Of several
// WithSocketConfig options the last one counts.
func WithSocketConfig(cfg listener.Config) Option {
	return func(c *config) {
		c.base = cfg
		c.resolveSocket()
	}
}

// resolveSocket computes c.socket from the socket options given so far.
func (c *config) resolveSocket() {
	c.socket = c.base
	if c.reusePort {
		c.socket.ReusePort = true
	}
	if c.backlogSet {
		c.socket.Backlog = c.backlog
	}
}
