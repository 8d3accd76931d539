// Package bench measures acceptgate: the cost of its Accept path against the
// raw listener and netutil.LimitListener (the benchmarks in this package's
// tests), and what clients live through when traffic moves between sockets
// (Handoff).
package bench
