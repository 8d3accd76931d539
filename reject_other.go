//go:build !unix

package acceptgate

func (s *socket) canReject() bool { return false }

func (l *Listener) reject(s *socket) error { return errNoSocket }

func (s *socket) relisten() (*socket, error) { return nil, errNoSocket }

type parking struct{}

func (p *parking) close() {}
