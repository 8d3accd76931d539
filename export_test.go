package acceptgate

import "time"

// SetWakeWait shortens how long a transition waits for a listener whose
// SetDeadline does not wake its Accept, for the test of that case.
func SetWakeWait(d time.Duration) (restore func()) {
	old := wakeWait
	wakeWait = d
	return func() { wakeWait = old }
}
