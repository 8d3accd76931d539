package metrics

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"
)

// An Option configures a Collector made by NewCollector.
type Option func(*options)

type options struct {
	namespace    string
	constLabels  prometheus.Labels
	hostCounters bool
}

// WithNamespace puts ns, and an underscore, in front of every metric's name:
// with WithNamespace("shop"), acceptgate_state is shop_acceptgate_state.
// Without it, or with "", the names are those the package documents, which
// do not change; dashboards and alerts written for them keep working. A
// name ns makes invalid for the Prometheus client (not UTF-8, or outside
// [a-zA-Z_:][a-zA-Z0-9_:]* under the legacy validation scheme) makes
// prometheus.Registry.Register refuse the Collector, and a direct scrape
// fail; it never panics. Prometheus's naming practice asks for a single
// word, lower case, with underscores.
func WithNamespace(ns string) Option {
	return func(o *options) { o.namespace = ns }
}

// WithConstLabels gives every metric the Collector sends the labels in
// labels, with the same values at every scrape, as prometheus.Opts'
// ConstLabels does. A later WithConstLabels adds to the labels of an earlier
// one; the Collector keeps a copy, so labels may change afterwards. The
// names must be label names the Prometheus client accepts, other than gate
// and state, which the Collector sets itself, and the values UTF-8; else
// prometheus.Registry.Register refuses the Collector, as for WithNamespace.
//
// Two Collectors whose const labels differ in at least one value may share
// a registry.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(o *options) {
		if o.constLabels == nil {
			o.constLabels = make(prometheus.Labels, len(labels))
		}
		maps.Copy(o.constLabels, labels)
	}
}

// WithHostCounters adds the kernel's TcpExt ListenOverflows and ListenDrops
// counters, as acceptgate_tcp_listen_overflows_total and
// acceptgate_tcp_listen_drops_total, without a gate label. They are off by
// default because they are not the process's own: Linux keeps them per
// network namespace (/proc/net/netstat), for all its listeners together, so
// every process in the namespace reports the same values (on a host without
// containers, every process of the host; in Kubernetes, every container of
// a pod), and summing them over processes counts each dropped client once
// per process. Turn them on in one process per network namespace, or
// aggregate them with max by a label that names the host or pod, never sum.
// Elsewhere than Linux they are absent.
func WithHostCounters() Option {
	return func(o *options) { o.hostCounters = true }
}
