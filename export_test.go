package acceptgate

import (
	"time"

	"github.com/acceptgate/acceptgate/internal/faults"
)

// WithFaults gives the Listener the faults a test arms in f, so that tests
// that make steps fail need not share the process-wide ones.
func WithFaults(f *faults.Set) Option { return func(c *config) { c.faults = f } }

// SetWakeWait shortens how long a transition waits for a listener whose
// SetDeadline does not wake its Accept, for the test of that case.
func SetWakeWait(d time.Duration) (restore func()) {
	old := wakeWait
	wakeWait = d
	return func() { wakeWait = old }
}

// HoldLocks takes both of l's locks, the transition lock and the short one,
// until the returned function is called: what needs neither goes on.
func HoldLocks(l *Listener) (release func()) {
	l.opMu.Lock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		l.opMu.Unlock()
	}
}

// SlotWaiters returns how many goroutines wait for a tracked slot.
func SlotWaiters(l *Listener) int32 { return l.tracker.waiters.Load() }
