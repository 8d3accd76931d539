package acceptgate

import (
	"fmt"
	"net"
	"time"
)

type stateChange struct {
	from, to State
	addr     net.Addr
}

// enterLocked records a completed transition and queues the change for
// reportChanges. Storing the new mode has woken the waiters.
func (l *Listener) enterLocked(from, to State) {
	now := time.Now()
	l.spent[from] += now.Sub(l.since)
	l.entered[to]++
	l.since = now
	l.hookMu.Lock()
	l.hookQueue = append(l.hookQueue, stateChange{from, to, l.Addr()})
	l.hookMu.Unlock()
}

// reportChanges logs the queued changes and calls the hook with each, in
// order, unless another goroutine is doing it already: then that one
// reports this change too, once the hook it is in returns. So a hook may
// call any method of the Listener, transitions included.
func (l *Listener) reportChanges() {
	l.hookMu.Lock()
	if l.hookRunning {
		l.hookMu.Unlock()
		return
	}
	l.hookRunning = true
	for len(l.hookQueue) > 0 {
		c := l.hookQueue[0]
		l.hookQueue = l.hookQueue[1:]
		l.hookMu.Unlock()
		l.logger.Info("acceptgate: state changed", "addr", c.addr.String(), "from", c.from.String(), "to", c.to.String())
		if l.hook != nil {
			l.callHook(c.from, c.to)
		}
		l.hookMu.Lock()
	}
	l.hookQueue = nil
	l.hookRunning = false
	l.hookMu.Unlock()
}

func (l *Listener) callHook(from, to State) {
	defer func() {
		if v := recover(); v != nil {
			l.logger.Error("acceptgate: state hook panicked", "from", from.String(), "to", to.String(), "panic", fmt.Sprint(v))
		}
	}()
	l.hook(from, to)
}
