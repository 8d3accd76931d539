package acceptgate

import (
	"net"
	"sync"
	"sync/atomic"
)

// tracker counts and lists the connections a Listener hands out when an
// option needs them tracked (WithMaxConns, WithTracking), and lets Accept
// wait for a slot and Shutdown until every slot is given back. It has a
// lock and a notification of its own, so that closing a tracked connection
// touches nothing else of the Listener: not its transitions, not its state.
type tracker struct {
	limit   int64        // WithMaxConns; 0 means no limit
	slots   atomic.Int64 // with a limit: active plus accepts under way that hold a slot (else in lists)
	active  atomic.Int64 // handed out and not yet closed
	waiters atomic.Int32 // goroutines between watch and unwatch
	// closedAll is set once a Shutdown closed every tracked connection:
	// a connection an accept under way takes after that is closed too.
	closedAll atomic.Bool

	mu    sync.Mutex
	freed chan struct{} // closed and replaced when a slot is given back while someone waits

	// lists holds the open connections, in shards with a lock each, so that
	// accept loops and handlers on different cores do not take turns on
	// one lock (see shards.go).
	lists [acceptShards]connShard
}

type connShard struct {
	mu      sync.Mutex
	conns   connList
	tracker *tracker
	// slots counts, without a limit, the slots taken less those given back
	// on this shard; only the sum over the shards means anything, since a
	// slot may be given back on another shard than it was taken on.
	slots atomic.Int64
	_     [cacheLine - 32]byte
}

func newTracker(limit int64) *tracker {
	t := &tracker{limit: limit, freed: make(chan struct{})}
	for i := range t.lists {
		t.lists[i].tracker = t
	}
	return t
}

// activeConns returns how many tracked connections are open; 0 when t is
// nil, as for a Listener that does not track.
func (t *tracker) activeConns() int64 {
	if t == nil {
		return 0
	}
	return t.active.Load()
}

// held returns how many slots are taken: tracked connections open, and
// accepts under way that may yet hand one out. An accept takes its slot
// before it looks at the state, so once the Listener is closed a sum that
// finds none has missed no accept that will deliver.
func (t *tracker) held() int64 {
	if t.limit != 0 {
		return t.slots.Load()
	}
	var n int64
	for i := range t.lists {
		n += t.lists[i].slots.Load()
	}
	return n
}

// tryAcquire takes a slot for one more connection if the limit allows it.
// A slot is held from before the wrapped Accept until the connection it
// returned is closed, so that no more than the limit are ever taken.
func (t *tracker) tryAcquire() bool {
	if t.limit == 0 {
		t.lists[myShard()].slots.Add(1)
		return true
	}
	for {
		n := t.slots.Load()
		if n >= t.limit {
			return false
		}
		if t.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives a slot back and wakes those waiting for one, or for the
// last connection to close.
func (t *tracker) release() {
	if t.limit != 0 {
		t.slots.Add(-1)
	} else {
		t.lists[myShard()].slots.Add(-1)
	}
	if t.waiters.Load() > 0 {
		t.mu.Lock()
		close(t.freed)
		t.freed = make(chan struct{})
		t.mu.Unlock()
	}
}

// watch counts the caller as a waiter until it calls unwatch, and returns
// the channel closed at the next release. A caller watches before it looks
// (tryAcquire, active), so that a release just after the look wakes it.
func (t *tracker) watch() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waiters.Add(1)
	return t.freed
}

func (t *tracker) unwatch() { t.waiters.Add(-1) }

// wrap tracks c, in one allocation, keeping its optional interfaces; its
// slot was taken by tryAcquire.
func (t *tracker) wrap(c net.Conn) net.Conn {
	w := newShaped(shapeOf(c))
	tc := w.tracked()
	tc.Conn, tc.list = c, &t.lists[myShard()]
	t.active.Add(1)
	tc.list.mu.Lock()
	tc.list.conns.add(tc)
	tc.list.mu.Unlock()
	return w
}

// remove stops tracking a connection that closed and gives its slot back.
func (t *tracker) remove(c *conn) {
	c.list.mu.Lock()
	c.list.conns.remove(c)
	c.list.mu.Unlock()
	t.active.Add(-1)
	t.release()
}

// closeAll closes every tracked connection still open and returns how many
// it closed.
func (t *tracker) closeAll() int {
	t.closedAll.Store(true)
	var open []*conn
	for i := range t.lists {
		l := &t.lists[i]
		l.mu.Lock()
		for c := l.conns.head; c != nil; c = c.next {
			open = append(open, c)
		}
		l.mu.Unlock()
	}
	for _, c := range open {
		c.Close()
	}
	return len(open)
}

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
