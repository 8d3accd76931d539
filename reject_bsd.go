//go:build unix && !linux

package acceptgate

import (
	"net"

	"github.com/acceptgate/acceptgate/listener"
)

// rejectTCP closes the listener after taking out its queue; Resume binds its
// address again. Only Linux can listen again on a stopped descriptor.
func rejectTCP(s *socket) (*socket, []net.Conn, error) {
	conns, err := listener.AcceptQueued(s.ln)
	if err != nil {
		return nil, nil, err
	}
	s.ln.Close()
	return &socket{ln: s.ln, cfg: s.cfg, closed: true}, conns, nil
}

func restartTCP(s *socket) (*socket, error) { return s, nil } // never open while rejecting here
