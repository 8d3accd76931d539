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

	acceptedDesc    = prometheus.NewDesc("acceptgate_accepted_connections_total", "Connections the gate's Accept returned.", gateLabel, nil)
	stateDesc       = prometheus.NewDesc("acceptgate_state", "1 for the gate's current state, 0 for the others.", stateLabel, nil)
	transitionsDesc = prometheus.NewDesc("acceptgate_transitions_total", "Transitions of the gate into each state.", stateLabel, nil)
	secondsDesc     = prometheus.NewDesc("acceptgate_state_seconds_total", "Seconds the gate spent in each state, the current one up to the scrape.", stateLabel, nil)
	activeDesc      = prometheus.NewDesc("acceptgate_active_connections", "Tracked connections returned by the gate and not yet closed; 0 when untracked.", gateLabel, nil)
	pendingDesc     = prometheus.NewDesc("acceptgate_pending_connections", "Connections the gate took out of the kernel and has not yet returned.", gateLabel, nil)
	queueLenDesc    = prometheus.NewDesc("acceptgate_accept_queue_length", "Clients waiting in the kernel's accept queue of the gate's socket.", gateLabel, nil)
	queueLimitDesc  = prometheus.NewDesc("acceptgate_accept_queue_limit", "The limit of the kernel's accept queue of the gate's socket (its backlog).", gateLabel, nil)
	abortedDesc     = prometheus.NewDesc("acceptgate_aborted_connections_total", "Connections the gate closed without returning them, because their client had given up.", gateLabel, nil)
	overflowsDesc   = prometheus.NewDesc("acceptgate_tcp_listen_overflows_total", "Host-wide (network namespace) TcpExt ListenOverflows: connections a full accept queue had no room for.", nil, nil)
	dropsDesc       = prometheus.NewDesc("acceptgate_tcp_listen_drops_total", "Host-wide (network namespace) TcpExt ListenDrops: SYNs and handshakes listeners dropped, overflows included.", nil, nil)
)

// Collector is a prometheus.Collector over a set of named gates and the
// host's listen-queue counters. It is safe for concurrent use; gates may be
// registered while it is being scraped.
//
// A registry takes one Collector: a second describes the same metrics, so
// prometheus.Registry.Register refuses it with an error. Register every gate
// of a process with one Collector.
type Collector struct {
	mu    sync.RWMutex
	gates map[string]*acceptgate.Listener

	// listenCounters reads the host's ListenOverflows and ListenDrops; ok is
	// false where they cannot be read.
	listenCounters func() (overflows, drops float64, ok bool)
}

// NewCollector returns a Collector with no gates.
func NewCollector() *Collector {
	return &Collector{gates: make(map[string]*acceptgate.Listener), listenCounters: readListenCounters}
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
	for _, d := range []*prometheus.Desc{acceptedDesc, stateDesc, transitionsDesc, secondsDesc,
		activeDesc, pendingDesc, queueLenDesc, queueLimitDesc, abortedDesc, overflowsDesc, dropsDesc} {
		ch <- d
	}
}

// Collect sends the current metrics of every registered gate, from one
// Stats snapshot each, and the host's counters where they can be read.
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
		collectGate(ch, names[i], g.Stats())
	}
	if overflows, drops, ok := c.listenCounters(); ok {
		ch <- prometheus.MustNewConstMetric(overflowsDesc, prometheus.CounterValue, overflows)
		ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, drops)
	}
}

func collectGate(ch chan<- prometheus.Metric, name string, st acceptgate.Stats) {
	ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, float64(st.Accepted), name)
	for _, s := range states {
		current := 0.0
		if st.State == s {
			current = 1
		}
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, current, name, s.String())
		ch <- prometheus.MustNewConstMetric(transitionsDesc, prometheus.CounterValue, float64(st.Entered[s]), name, s.String())
		ch <- prometheus.MustNewConstMetric(secondsDesc, prometheus.CounterValue, st.Spent[s].Seconds(), name, s.String())
	}
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(st.Active), name)
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending), name)
	if st.Queued >= 0 {
		ch <- prometheus.MustNewConstMetric(queueLenDesc, prometheus.GaugeValue, float64(st.Queued), name)
	}
	if st.Backlog >= 0 {
		ch <- prometheus.MustNewConstMetric(queueLimitDesc, prometheus.GaugeValue, float64(st.Backlog), name)
	}
	ch <- prometheus.MustNewConstMetric(abortedDesc, prometheus.CounterValue, float64(st.Aborted), name)
}
