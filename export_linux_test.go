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
