package metrics

import (
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acceptgate/acceptgate"
)

// states are the states a gate reports, in the order of their values.
var states = []acceptgate.State{acceptgate.Accepting, acceptgate.Paused, acceptgate.Rejecting, acceptgate.Closed}

var (
	gateLabel  = []string{"gate"}
	stateLabel = []string{"gate", "state"}
)

// descs are the descriptions of a Collector's metrics, made once with its
// namespace and const labels.
type descs struct {
	accepted, state, transitions, seconds, active, pending, queueLen, queueLimit, aborted *prometheus.Desc

	overflows, drops *prometheus.Desc // nil without WithHostCounters
}

func newDescs(o options) descs {
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.namespace, "acceptgate", name), help, labels, o.constLabels)
	}
	d := descs{
		accepted:    desc("accepted_connections_total", "Connections the gate's Accept returned.", gateLabel),
		state:       desc("state", "1 for the gate's current state, 0 for the others.", stateLabel),
		transitions: desc("transitions_total", "Transitions of the gate into each state.", stateLabel),
		seconds:     desc("state_seconds_total", "Seconds the gate spent in each state, the current one up to the scrape.", stateLabel),
		active:      desc("active_connections", "Tracked connections returned by the gate and not yet closed; 0 when untracked.", gateLabel),
		pending:     desc("pending_connections", "Connections the gate took out of the kernel and has not yet returned.", gateLabel),
		queueLen:    desc("accept_queue_length", "Clients waiting in the kernel's accept queue of the gate's socket.", gateLabel),
		queueLimit:  desc("accept_queue_limit", "The limit of the kernel's accept queue of the gate's socket (its backlog).", gateLabel),
		aborted:     desc("aborted_connections_total", "Connections the gate closed without returning them, because their client had given up.", gateLabel),
	}
	if o.hostCounters {
		d.overflows = desc("tcp_listen_overflows_total",
			"TcpExt ListenOverflows of the process's network namespace, not of this process: connections a full accept queue had no room for. The same in every process of the namespace; do not sum it across them.", nil)
		d.drops = desc("tcp_listen_drops_total",
			"TcpExt ListenDrops of the process's network namespace, not of this process: SYNs and handshakes listeners dropped, overflows included. The same in every process of the namespace; do not sum it across them.", nil)
	}
	return d
}

func (d *descs) all() []*prometheus.Desc {
	all := []*prometheus.Desc{d.accepted, d.state, d.transitions, d.seconds, d.active, d.pending, d.queueLen, d.queueLimit, d.aborted}
	if d.overflows != nil {
		all = append(all, d.overflows, d.drops)
	}
	return all
}

// Collector is a prometheus.Collector over a set of named gates and, with
// WithHostCounters, the network namespace's listen-queue counters. It is
// safe for concurrent use; gates may be registered while it is being
// scraped.
//
// A registry takes one Collector per namespace and const labels: a second
// with the same describes the same metrics, so prometheus.Registry.Register
// refuses it with an error. Register every gate of a process with one
// Collector.
type Collector struct {
	mu    sync.RWMutex
	gates map[string]*acceptgate.Listener

	d descs
}

// NewCollector returns a Collector with no gates, configured by opts. With
// none, it sends the metrics the package documents under their names there,
// without the host counters.
func NewCollector(opts ...Option) *Collector {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &Collector{gates: make(map[string]*acceptgate.Listener), d: newDescs(o)}
}

// Register adds gate under name, the value of its gate label. It fails, and
// changes nothing, for an empty name, a name that is not UTF-8 (Prometheus
// label values must be), a name already registered or a nil gate. A closed gate stays in the metrics, in state closed, until
// Unregister.
func (c *Collector) Register(name string, gate *acceptgate.Listener) error {
	switch {
	case name == "":
		return fmt.Errorf("metrics: register: empty gate name")
	case !utf8.ValidString(name):
		// Collect would panic on it, in the registry's goroutine, and take
		// the process down at the first scrape.
		return fmt.Errorf("metrics: register %q: gate name is not UTF-8", name)
	case gate == nil:
		return fmt.Errorf("metrics: register %q: nil gate", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.gates[name]; ok {
		return fmt.Errorf("metrics: register %q: name already taken", name)
	}
	c.gates[name] = gate
	return nil
}

// Unregister removes the gate registered under name, if any; its metrics
// are gone from the next scrape.
func (c *Collector) Unregister(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.gates, name)
}

// Describe sends the descriptions of every metric the Collector may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect sends the current metrics of every registered gate, from one
// Stats snapshot each, and with WithHostCounters the namespace's counters
// where they can be read.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	names := make([]string, 0, len(c.gates))
	for name := range c.gates {
		names = append(names, name)
	}
	gates := make([]*acceptgate.Listener, len(names))
	slices.Sort(names)
	for i, name := range names {
		gates[i] = c.gates[name]
	}
	c.mu.RUnlock()

	for i, g := range gates {
		c.d.collectGate(ch, names[i], g.Stats())
	}
	if c.d.overflows == nil {
		return
	}
	if overflows, drops, ok := readListenCounters(); ok {
		send(ch, c.d.overflows, prometheus.CounterValue, overflows)
		send(ch, c.d.drops, prometheus.CounterValue, drops)
	}
}

// send sends a metric of d, or, if d carries an error (a namespace or const
// label the options made invalid), a metric that makes the scrape fail
// with it: MustNewConstMetric would panic in the registry's goroutine and
// take the process down.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

func (d *descs) collectGate(ch chan<- prometheus.Metric, name string, st acceptgate.Stats) {
	send(ch, d.accepted, prometheus.CounterValue, float64(st.Accepted), name)
	for _, s := range states {
		current := 0.0
		if st.State == s {
			current = 1
		}
		send(ch, d.state, prometheus.GaugeValue, current, name, s.String())
		send(ch, d.transitions, prometheus.CounterValue, float64(st.Entered[s]), name, s.String())
		send(ch, d.seconds, prometheus.CounterValue, st.Spent[s].Seconds(), name, s.String())
	}
	send(ch, d.active, prometheus.GaugeValue, float64(st.Active), name)
	send(ch, d.pending, prometheus.GaugeValue, float64(st.Pending), name)
	if st.Queued >= 0 {
		send(ch, d.queueLen, prometheus.GaugeValue, float64(st.Queued), name)
	}
	if st.Backlog >= 0 {
		send(ch, d.queueLimit, prometheus.GaugeValue, float64(st.Backlog), name)
	}
	send(ch, d.aborted, prometheus.CounterValue, float64(st.Aborted), name)
}
