// Package fleet runs a fleet of acceptgate serve instances on loopback
// behind a real load balancer (Debian's HAProxy or nginx, started with a
// generated configuration and stopped by PID), with client loops through
// the balancer, half with a new connection for every request and half
// kept alive, and the rolling steps an operator runs on it: an upgrade in
// place (SIGHUP), a drain and restart, a pause or a reject of one
// instance. Its tests are the fleet tests; the lab's fleet command
// (go run ./lab fleet) reruns the combined experiment and prints its
// table. docs/operating.md ("Behind a load balancer") shows the
// configurations and the figures.
//
// It runs on Linux only (it reads /proc to tell when a process it did not
// start has exited); elsewhere it holds nothing but this comment.
package fleet
