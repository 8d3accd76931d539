package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/acceptgate/acceptgate"
)

// Version is the version of the exchange this package speaks.
const Version = 1

// Limits of the exchange, so that a peer cannot make either side hold
// unbounded memory or descriptors.
const (
	maxMessage = 64 << 10
	maxSockets = 64
	maxFiles   = 2 * maxSockets
)

// DefaultTimeout bounds each step of the exchange unless WithTimeout says
// otherwise.
const DefaultTimeout = 10 * time.Second

// afterGo bounds, in step timeouts, how long either side waits for the
// other's word after the go. The taker may be serving from the go on, so a
// silence then is no proof it died, and the offer stays strictly paused
// through it; a taker slower than that is told the offer rolls back, and
// steps back when it hears it.
const afterGo = 3

// ErrRefused is wrapped by the error Take and Commit return when the
// offering process refused the exchange; the message it gave follows.
var ErrRefused = errors.New("handoff refused")

// An Option configures Listen or Take.
type Option func(*options)

type options struct {
	timeout  time.Duration
	logger   *slog.Logger
	gateOpts func(name string) []acceptgate.Option
}

// WithTimeout bounds each step of the exchange: a peer silent for longer is
// given up on, and the offer rolls back. After the go, when the taker may be
// serving, either side waits three times as long for the other's word.
// Default DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger has the offer log each exchange, failed ones and rollbacks
// included. By default nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithGateOptions gives Take the options to make each gate with, such as
// acceptgate.WithTracking; the socket's own options (backlog, reuse-port)
// come from the old process.
func WithGateOptions(f func(name string) []acceptgate.Option) Option {
	return func(o *options) { o.gateOpts = f }
}

func newOptions(opts []Option) options {
	o := options{timeout: DefaultTimeout}
	for _, f := range opts {
		f(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func refused(msg string) error { return fmt.Errorf("%w: %s", ErrRefused, msg) }
