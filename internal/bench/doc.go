// Package bench measures acceptgate and shows what its clients live through.
//
// The benchmarks in this package's tests compare the gate's Accept path with
// the raw listener and netutil.LimitListener, in memory and on loopback, and
// time each transition. The experiments are functions a program can run
// itself; each returns a plain result struct:
//
//   - Soak serves HTTP behind a gate flipped at random between states, and
//     counts what its clients saw.
//   - Handoff moves traffic back and forth between two SO_REUSEPORT sockets,
//     and counts the clients reset on the way.
//   - BacklogExperiment holds a gate in each state against a burst of
//     clients, and samples the kernel's accept queue.
//
// Every experiment listens and dials on loopback only, unless its config
// gives it a Net (two network namespaces a round trip apart, for one), and
// classifies each client the same way: served, waiting for its answer, refused, timed out
// connecting, or reset after it connected. Formatting the results, and the
// performance table of docs/measurements.md, belong to the lab (go run ./lab).
package bench
