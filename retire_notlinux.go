//go:build !linux

package acceptgate

// A retiree is a fenced socket replaced by one bound beside it (Linux
// only: no socket is fenced elsewhere).
type retiree struct{}

func (r *retiree) queued() int                    { return 0 }
func (l *Listener) finishRetireesOpLocked() error { return nil }
func (l *Listener) closeRetireesOpLocked() error  { return nil }
func (l *Listener) stopRetireesAcceptOpLocked()   {}
