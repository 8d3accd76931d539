//go:build !unix

package acceptgate

func (s *socket) canReject() bool { return false }

func (s *socket) refusalMethod() string { return "not supported on this platform" }

func (l *Listener) rejectOpLocked(s *socket) (*socket, error) { return nil, errNoSocket }

func (s *socket) closeListening() error { return s.ln.Close() }
