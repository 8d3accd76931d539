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
	list       *connShard // the tracker's list it is in
	prev, next *conn      // in list, guarded by list.mu
	closed     atomic.Bool
}

// Close closes the connection and, the first time, gives its slot back to the
// Listener, admitting the next client if WithMaxConns held it back.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.list.tracker.remove(c)
	}
	return err
}

// NetConn returns the underlying connection, such as a *net.TCPConn.
func (c *conn) NetConn() net.Conn { return c.Conn }

// acquireSlot waits for a free slot. It returns false, without a slot, when
// the state changed meanwhile and Accept must look at it again.
func (l *Listener) acquireSlot() bool {
	t := l.tracker
	if t.tryAcquire() {
		return true // the hot path: no lock
	}
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		freed := t.watch()
		got := t.tryAcquire()
		if got || !socketOpen(l.mode.Load()) {
			t.unwatch()
			return got
		}
		select {
		case <-freed:
		case <-changed:
		}
		t.unwatch()
	}
}
