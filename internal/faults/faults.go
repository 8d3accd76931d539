// Package faults lets this module's tests make one step of a transition
// fail, so that what clients, descriptors and the reported state are after
// a failure can be checked. Production code checks before each step;
// nothing is armed outside tests, and a check then costs an atomic load or
// two.
//
// Faults are armed on a Set, which a test hands to the one gate it makes
// fail (package acceptgate's tests do, so that they may run in parallel),
// or process-wide with Arm, for a seam a test cannot hand a Set to: a gate
// made inside the code under test, or a step outside any gate.
package faults

import (
	"sync"
	"sync/atomic"
)

// The steps that can be made to fail.
const (
	Accept     = "accept"     // taking a connection out of the queue
	Fence      = "fence"      // SO_BINDTODEVICE on
	Unfence    = "unfence"    // SO_BINDTODEVICE off
	Probe      = "probe"      // finding out whether a fence can be lifted
	Handshakes = "handshakes" // counting handshakes in progress
	Shutdown   = "shutdown"   // making a socket stop listening
	Hold       = "hold"       // holding a stopped socket's port
	Listen     = "listen"     // listening again
	Bind       = "bind"       // binding a new socket
	Beside     = "beside"     // binding a new socket beside a fenced one
	Link       = "link"       // a second name for a unix socket's file
	Park       = "park"       // creating the socket that refuses at a unix path
	Rename     = "rename"     // moving a unix socket file
	Reserve    = "reserve"    // binding a port on the other loopback family
	Socketpair = "socketpair" // the SOCK_SEQPACKET pair an upgrade hands over on
)

type plan struct {
	op   string
	left atomic.Int64 // calls of op to let through before failing
	err  error
	hits atomic.Int64
}

// A Set holds the faults armed for the code it is handed to. A nil *Set
// holds none; its Check still reports the faults armed process-wide.
type Set struct {
	mu    sync.Mutex              // serializes Arm and disarm
	armed atomic.Pointer[[]*plan] // read by Check without the lock
}

// global holds the faults Arm arms, which every Check reports.
var global Set

// Check returns the error armed for op, in s or process-wide, if its turn
// has come.
func (s *Set) Check(op string) error {
	if s != nil {
		if err := s.check(op); err != nil {
			return err
		}
	}
	return global.check(op)
}

// Check returns the error armed process-wide for op, if its turn has come.
func Check(op string) error { return global.check(op) }

// Arm arms op process-wide, as Set.Arm does on one Set.
func Arm(op string, n int, err error) (disarm func() int) { return global.Arm(op, n, err) }

func (s *Set) check(op string) error {
	ps := s.armed.Load()
	if ps == nil {
		return nil
	}
	for _, p := range *ps {
		if p.op != op {
			continue
		}
		if p.left.Add(-1) >= 0 {
			return nil
		}
		p.hits.Add(1)
		return p.err
	}
	return nil
}

// Arm makes the n-th check of op (counting from 1) and every later one fail
// with err until the returned function is called; it reports how many
// checks failed; calling it again does nothing more. Several ops may be
// armed at once; for one op, the plan armed first applies.
func (s *Set) Arm(op string, n int, err error) (disarm func() int) {
	p := &plan{op: op, err: err}
	p.left.Store(int64(n - 1))
	s.mu.Lock()
	var next []*plan
	if ps := s.armed.Load(); ps != nil {
		next = append(next, *ps...)
	}
	next = append(next, p)
	s.armed.Store(&next)
	s.mu.Unlock()
	return func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		var rest []*plan
		if ps := s.armed.Load(); ps != nil {
			for _, q := range *ps {
				if q != p {
					rest = append(rest, q)
				}
			}
		}
		if len(rest) == 0 {
			s.armed.Store(nil)
		} else {
			s.armed.Store(&rest)
		}
		return int(p.hits.Load())
	}
}

// Hits reports how many checks of op have failed so far on s, for the plans
// still armed, without disarming them.
func (s *Set) Hits(op string) int {
	n := 0
	if ps := s.armed.Load(); ps != nil {
		for _, p := range *ps {
			if p.op == op {
				n += int(p.hits.Load())
			}
		}
	}
	return n
}
