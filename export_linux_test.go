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
	} else if s.succ != nil {
		w = s.succ.watch
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

// TakingOver reports whether l still accepts from a fenced socket that a
// Resume replaced by one bound beside it, which has not taken over yet.
func TakingOver(l *Listener) bool { return l.sock.Load().succ != nil }

// WaitTakeOvers waits until no goroutine of l is left waiting to make a
// successor the gate's socket (or making it).
func WaitTakeOvers(l *Listener) { l.takeovers.Wait() }
