package acceptgate

import (
	"net"
	"sync/atomic"
)

// conn is a tracked connection: closing it gives its slot back. Accept hands
// it out inside the type of its shape (see connshape.go), so that it has the
// optional interfaces of the connection it wraps.
type conn struct {
	net.Conn
	gate       *Listener
	prev, next *conn // in gate.conns, guarded by gate.connsMu
	closed     atomic.Bool
}

// Close closes the connection and, the first time, gives its slot back to the
// Listener, admitting the next client if WithMaxConns held it back.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.gate.untrack(c)
	}
	return err
}

// NetConn returns the underlying connection, such as a *net.TCPConn.
func (c *conn) NetConn() net.Conn { return c.Conn }

// connList is an intrusive doubly linked list: adding and removing a
// connection costs no allocation beyond the conn itself.
type connList struct{ head *conn }

func (cl *connList) add(c *conn) {
	c.next = cl.head
	if cl.head != nil {
		cl.head.prev = c
	}
	cl.head = c
}

func (cl *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		cl.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
}

// trackConn wraps c, in one allocation, keeping its optional interfaces; its
// slot was taken by acquireSlot or tryAcquireSlot.
func (l *Listener) trackConn(c net.Conn) net.Conn {
	t := newShaped(optionalOf(c))
	tc := t.tracked()
	tc.Conn, tc.gate = c, l
	l.active.Add(1)
	l.connsMu.Lock()
	l.conns.add(tc)
	l.connsMu.Unlock()
	return t
}

func (l *Listener) untrack(c *conn) {
	l.connsMu.Lock()
	l.conns.remove(c)
	l.connsMu.Unlock()
	l.active.Add(-1)
	l.releaseSlot()
}

// closeTracked closes every tracked connection still open and returns how
// many it closed.
func (l *Listener) closeTracked() int {
	l.connsMu.Lock()
	var open []*conn
	for c := l.conns.head; c != nil; c = c.next {
		open = append(open, c)
	}
	l.connsMu.Unlock()
	for _, c := range open {
		c.Close()
	}
	return len(open)
}

// tryAcquireSlot takes a slot for one more connection if the limit allows
// it. A slot is held from before the wrapped Accept until the connection it
// returned is closed, so that no more than the limit are ever taken.
func (l *Listener) tryAcquireSlot() bool {
	if l.limit == 0 {
		l.slots.Add(1)
		return true
	}
	for {
		n := l.slots.Load()
		if n >= l.limit {
			return false
		}
		if l.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// acquireSlot waits for a free slot. It returns false, without a slot, when
// the state changed meanwhile and Accept must look at it again.
func (l *Listener) acquireSlot() bool {
	if l.tryAcquireSlot() {
		return true // the hot path: no lock
	}
	for {
		got := false
		l.await(nil, func() bool {
			got = l.tryAcquireSlot()
			return got || !socketOpen(l.mode.Load())
		})
		if got {
			return true
		}
		if !socketOpen(l.mode.Load()) {
			return false
		}
	}
}

func (l *Listener) releaseSlot() {
	l.slots.Add(-1)
	if l.waiters.Load() > 0 {
		l.mu.Lock()
		l.broadcastLocked()
		l.mu.Unlock()
	}
}
