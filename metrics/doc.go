// Package metrics exports acceptgate's gates to Prometheus.
//
// A Collector reads what each gate already counts (Listener.Stats) when it
// is scraped; it adds nothing to the Accept path. Register it with a
// prometheus.Registry and serve that registry, for instance with promhttp:
//
//	c := metrics.NewCollector()
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
// tell them (see acceptgate.Stats). Host-wide, without a gate label, from
// the TcpExt counters of /proc/net/netstat (Linux; absent elsewhere), for the
// network namespace of the process:
//
//	acceptgate_tcp_listen_overflows_total   counter  connections an accept queue had no room for
//	acceptgate_tcp_listen_drops_total       counter  SYNs and handshakes a listener dropped, overflows included
package metrics
