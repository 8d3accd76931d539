package metrics

import "github.com/prometheus/procfs"

// readListenCounters reads TcpExt ListenOverflows and ListenDrops of the
// process's network namespace (/proc/self/net/netstat).
func readListenCounters() (overflows, drops float64, ok bool) {
	p, err := procfs.Self()
	if err != nil {
		return 0, 0, false
	}
	ns, err := p.Netstat()
	if err != nil || ns.TcpExt.ListenOverflows == nil || ns.TcpExt.ListenDrops == nil {
		return 0, 0, false
	}
	return *ns.TcpExt.ListenOverflows, *ns.TcpExt.ListenDrops, true
}
