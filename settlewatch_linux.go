package acceptgate

import (
	"sync"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// settleWatch counts, off the transition lock, the handshakes under way on
// a fenced socket that Resume will replace, until none is. A fenced socket
// begins no handshake (no new client finds it), so once none is under way
// none will be, and the replacement's stop need not count again: on a
// host whose connection table is shared and busy, that count is a walk of
// tens of milliseconds that Resume would otherwise pay (docs/reject.md, On
// a busy host). The watch ends when it finds none, after settleTime, on an
// error, or when told to, but not before its first count: so that a Resume
// soon after the Reject finds the count made (and a test that makes counts
// fail meets the same ones whatever the timing).
type settleWatch struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// settled is set before done closes if a count found none under way.
	settled bool
}

// watchSettle starts a watch of s's handshakes under way.
func watchSettle(s *socket) *settleWatch {
	w := &settleWatch{quit: make(chan struct{}), done: make(chan struct{})}
	sc, ok := s.ln.(syscall.Conn)
	if !ok {
		close(w.done)
		return w
	}
	go w.run(sc, s.faults, time.Now().Add(settleTime))
	return w
}

func (w *settleWatch) run(sc syscall.Conn, f *faults.Set, late time.Time) {
	defer close(w.done)
	for {
		if f.Check(faults.Handshakes) != nil {
			return
		}
		n, err := backlog.Handshakes(sc)
		if err != nil {
			return // closed, or unknown: Resume counts for itself
		}
		if n == 0 {
			w.settled = true
			return
		}
		if time.Now().After(late) {
			return
		}
		// A handshake under way completes within its round trip, or
		// after the SYN-ACK is sent again at one second; the next look
		// is a millisecond away, as the stop's own would be.
		t := time.NewTimer(time.Millisecond)
		select {
		case <-w.quit:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stop ends the watch, once its first count is done, and reports whether a
// count found no handshake under way. A nil watch found nothing.
func (w *settleWatch) stop() (settled bool) {
	if w == nil {
		return false
	}
	w.once.Do(func() { close(w.quit) })
	<-w.done
	return w.settled
}
