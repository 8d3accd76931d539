package acceptgate

import "net"

// skipped closes c and reports true if its client gave up before it was
// delivered (see WithSkipAborted). The slot c was taken under, if the
// Listener tracks, is given back, so that WithMaxConns admits the next.
func (l *Listener) skipped(c net.Conn) bool {
	if !clientGaveUp(c) {
		return false
	}
	c.Close()
	l.aborted.Add(1)
	if l.tracker != nil {
		l.tracker.release()
	}
	return true
}
