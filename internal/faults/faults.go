// Package faults lets this module's tests make one step of a transition
// fail, so that what clients, descriptors and the reported state are after
// a failure can be checked. Production code calls Check before each step;
// nothing is armed outside tests, and Check then costs one atomic load.
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

var (
	mu    sync.Mutex              // serializes Arm and disarm
	armed atomic.Pointer[[]*plan] // read by Check without the lock
)

// Check returns the armed error if op is armed and its turn has come.
func Check(op string) error {
	ps := armed.Load()
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

// Arm makes the n-th call of op (counting from 1) and every later one fail
// with err until the returned function is called; it reports how many calls
// failed; calling it again does nothing more. Several ops may be armed at
// once; for one op, the plan armed first applies.
func Arm(op string, n int, err error) (disarm func() int) {
	p := &plan{op: op, err: err}
	p.left.Store(int64(n - 1))
	mu.Lock()
	var next []*plan
	if ps := armed.Load(); ps != nil {
		next = append(next, *ps...)
	}
	next = append(next, p)
	armed.Store(&next)
	mu.Unlock()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		var rest []*plan
		if ps := armed.Load(); ps != nil {
			for _, q := range *ps {
				if q != p {
					rest = append(rest, q)
				}
			}
		}
		if len(rest) == 0 {
			armed.Store(nil)
		} else {
			armed.Store(&rest)
		}
		return int(p.hits.Load())
	}
}
