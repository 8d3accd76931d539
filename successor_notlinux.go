//go:build !linux

package acceptgate

// successor is the socket that takes over from a fenced one (Linux only:
// no socket is fenced elsewhere).
type successor struct{}

func (l *Listener) takeOverOpLocked(s *socket, _ bool) (*socket, error) { return s, nil }
func (l *Listener) takeOverNowOpLocked(*socket, bool) error             { return nil }
func (s *socket) closeReplaced() error                                  { return s.ln.Close() }
func (s *socket) queuedBeside() int                                     { return 0 }
