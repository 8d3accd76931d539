// Package metrics exports acceptgate's gates to Prometheus.
//
// A Collector reads what each gate already counts (Listener.Stats) when it
// is scraped; it adds nothing to the Accept path. Register it with a
// prometheus.Registry and serve that registry, for instance with promhttp:
//
//	c := metrics.NewCollector() // options: metrics.WithNamespace("shop"), ...
//	c.Register("http", gate)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The metrics, each gate's labelled gate="name":
//
//	acceptgate_accepted_connections_total   counter  connections Accept returned
//	acceptgate_state                        gauge    1 for the gate's current state, 0 for the others (label state)
//	acceptgate_transitions_total            counter  transitions into each state (label state)
//	acceptgate_state_seconds_total          counter  seconds spent in each state (label state)
//	acceptgate_active_connections           gauge    tracked connections returned and not yet closed
//	acceptgate_pending_connections          gauge    connections taken out of the kernel, not yet returned
//	acceptgate_accept_queue_length          gauge    clients waiting in the kernel's accept queue
//	acceptgate_accept_queue_limit           gauge    the accept queue's limit (the backlog)
//	acceptgate_aborted_connections_total    counter  connections closed unreturned because their client gave up
//
// The accept queue's length and limit are absent where the kernel cannot
// tell them (see acceptgate.Stats).
//
// These names are the default and stay as they are. WithNamespace puts a
// namespace in front of each (shop_acceptgate_state), and WithConstLabels
// adds labels to every metric, as prometheus.Opts' Namespace and
// ConstLabels do for the client's own metrics.
//
// WithHostCounters adds two counters without a gate label, the TcpExt
// counters of /proc/net/netstat (Linux; absent elsewhere):
//
//	acceptgate_tcp_listen_overflows_total   counter  connections an accept queue had no room for
//	acceptgate_tcp_listen_drops_total       counter  SYNs and handshakes a listener dropped, overflows included
//
// They are off by default because they are not the process's: Linux counts
// them per network namespace, so every process sharing the namespace (all
// of a host's, without containers) reports the same values, and a sum
// across processes counts each drop once per process. Turn them on in one
// process per namespace. The operations guide, docs/operating.md in the
// repository, shows the metrics served by acceptgate serve.
package metrics
