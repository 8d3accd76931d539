package acceptgate

import "time"

// SettleTime is how long Reject waits, without a fence, for the handshakes
// under way to complete before it stops the socket anyway.
func SettleTime() time.Duration { return settleTime }

// SetSettleTime changes how long Reject waits for handshakes, so that a
// test can hold a Reject waiting until it lets the handshake complete.
func SetSettleTime(d time.Duration) (restore func()) {
	old := settleTime
	settleTime = d
	return func() { settleTime = old }
}

// Transiting reports whether a transition (or handoff step) holds l.
func Transiting(l *Listener) bool {
	if l.opMu.TryLock() {
		l.opMu.Unlock()
		return false
	}
	return true
}

// SettleWatch reports, for a gate whose socket is fenced and will be
// replaced on Resume, whether a watch counts its handshakes under way
// (watching) and whether it ended finding none (settled).
func SettleWatch(l *Listener) (watching, settled bool) {
	s := l.sock.Load()
	var w *settleWatch
	if f, ok := s.refusal.(*fenced); ok {
		w = f.settle
	} else {
		l.opMu.Lock()
		for _, r := range l.retirees {
			if !r.finished.Load() {
				w = r.watch
				break
			}
		}
		l.opMu.Unlock()
	}
	if w == nil {
		return false, false
	}
	select {
	case <-w.done:
		return false, w.settled
	default:
		return true, false
	}
}

// Retiring reports whether a fenced socket that a Resume replaced by one
// bound beside it still delivers its last clients.
func Retiring(l *Listener) bool {
	l.opMu.Lock()
	defer l.opMu.Unlock()
	for _, r := range l.retirees {
		if !r.finished.Load() {
			return true
		}
	}
	return false
}
