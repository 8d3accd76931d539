//go:build !linux

package metrics

// readListenCounters reports that the host's listen-queue counters are not
// known: only Linux's /proc/net/netstat is read.
func readListenCounters() (overflows, drops float64, ok bool) { return 0, 0, false }
