package acceptgate

import (
	"sync"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// settleWatch counts, off the transition lock, the handshakes under way on
// a fenced socket that Resume will replace, until none is. A fenced socket
// begins no handshake (no new client finds it), so once none is under way
// none will be, and its stop need not count again: on a host whose
// connection table is shared and busy, that count is a walk of tens of
// milliseconds that no call should pay (docs/reject.md, On a busy host).
// A retiring socket stops when its watch ends (retire_linux.go), a socket
// replaced in turn when Resume comes. The watch ends when it finds none, after settleTime, on an
// error, or when told to, but not before its first count: so that a Resume
// soon after the Reject finds the count made (and a test that makes counts
// fail meets the same ones whatever the timing).
type settleWatch struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// settled is set before done closes if a count found none under way;
	// expired, if the watch's bound passed first.
	settled, expired bool
}

// watchSettle starts a watch of s's handshakes under way. It opens its
// sock_diag socket here, on the caller's thread: the kernel answers for
// the network namespace of the thread that opened it, and the watch's
// goroutine may run on a thread of another (where the caller entered the
// socket's namespace on a locked thread, as a test may).
func watchSettle(s *socket) *settleWatch {
	w := &settleWatch{quit: make(chan struct{}), done: make(chan struct{})}
	sc, ok := s.ln.(syscall.Conn)
	var d *sockets.Diag
	var err error
	if ok {
		d, err = sockets.OpenDiag()
	}
	if !ok || err != nil {
		close(w.done) // Resume counts for itself
		return w
	}
	go w.run(sc, d, s.faults, time.Now().Add(settleTime))
	return w
}

func (w *settleWatch) run(sc syscall.Conn, d *sockets.Diag, f *faults.Set, late time.Time) {
	defer close(w.done)
	defer d.Close()
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	for {
		if f.Check(faults.Handshakes) != nil {
			return
		}
		var n int
		var cerr error
		if err := rc.Control(func(fd uintptr) { n, cerr = d.Handshakes(fd) }); err != nil || cerr != nil {
			return // closed, or unknown: Resume counts for itself
		}
		if n == 0 {
			w.settled = true
			return
		}
		if time.Now().After(late) {
			w.expired = true
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

// ended is closed when the watch has ended, by itself or by stop.
func (w *settleWatch) ended() <-chan struct{} {
	if w == nil {
		return closedChan
	}
	return w.done
}

// outlived reports whether the watch ended because its bound passed: the
// socket has been fenced for settleTime, so that a handshake still under
// way on it has lost a packet or waits for a TCP_DEFER_ACCEPT client, and
// is one that any stop resets.
func (w *settleWatch) outlived() bool {
	if w == nil {
		return false
	}
	<-w.done
	return w.expired
}
