package acceptgate

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/listener"
)

// rejectTCPOpLocked fences the socket where Resume can undo the fence
// (fence_linux.go): by lifting it, with CAP_NET_RAW, or by replacing a
// socket the gate created. A fenced socket goes on listening, refusing new
// clients, and Accept delivers the ones it had admitted. Elsewhere it
// stops the socket listening once no handshake is under way
// (stop_linux.go).
//
// A member of an SO_REUSEPORT group is never fenced: the group's hash still
// hands a fenced member its share of new clients, which it cannot answer
// (its SYN-ACK would leave through the fence's interface), so they would
// wait a second for their SYN to be sent again. It stops instead, leaving
// the group, and the others take every new client. It waits for the
// group's handshakes, unless the kernel hands them to the other members
// (handsOffHandshakes).
func (l *Listener) rejectTCPOpLocked(s *socket) (*socket, error) {
	// A socket the gate created can always be replaced if the fence cannot
	// be lifted; one that others may hold must be lifted in place.
	if !inGroup(s) && (s.own || canUnfence(s.faults)) {
		f, err := fence(s)
		if err == nil {
			if s.own && !canUnfence(s.faults) {
				f.settle = watchSettle(s) // Resume will replace it
			}
			return s.refusing(f), nil
		}
		l.logger.Debug("acceptgate: reject without a fence", "addr", s.ln.Addr().String(), "reason", err.Error())
	}
	// A stopped socket listens again alone on its address: a fenced one a
	// Resume replaced by s, still delivering its last clients, stops first.
	if err := l.finishRetireesOpLocked(); err != nil {
		return nil, err
	}
	return l.stopOpLocked(s)
}

// tcpRefusalMethod says how rejectTCPOpLocked would refuse clients of s,
// probing what it would probe.
func (s *socket) tcpRefusalMethod() string {
	const stops = "stopped once its queue is empty and no handshake is under way; Resume listens again on the same descriptor"
	if inGroup(s) {
		if migratesRequests() {
			return stops + " (a member of an SO_REUSEPORT group is never fenced; tcp_migrate_req=1 hands its handshakes under way to the other members)"
		}
		return stops + " (a member of an SO_REUSEPORT group is never fenced)" + walkNote()
	}
	ta, _ := s.ln.Addr().(*net.TCPAddr)
	var ip net.IP
	if ta != nil {
		ip = ta.IP
	}
	dev, err := sockets.FenceDevice(ip)
	switch {
	case err != nil:
		return stops + " (no fence: " + err.Error() + "; an interface that stays down, such as `ip link add agfence type dummy` or `ip tuntap add agfence mode tun`, gives it one)" + walkNote()
	case canUnfence(s.faults):
		return "fenced with " + dev + ", lifted in place"
	case s.own:
		return "fenced with " + dev + "; without CAP_NET_RAW to lift the fence, Resume replaces the socket" + walkNote()
	}
	return stops + " (a fence with " + dev + " could not be lifted without CAP_NET_RAW, nor the socket, which others may hold, replaced)"
}

// adoptTCPRefusal takes over the way a TCP socket another process handed
// over refuses, as hs names it.
func adoptTCPRefusal(hs handover.Socket, ln net.Listener, f *faults.Set) (refusal, error) {
	switch hs.Reject {
	case handover.RejectFenced:
		return adoptFenced(ln, hs.Own, f)
	case handover.RejectStopped:
		return adoptStopped(ln), nil
	}
	return nil, fmt.Errorf("a rejecting TCP socket handed over with no way to refuse (%q)", hs.Reject)
}

// liveConfig returns the options to make s's socket listen again with, or
// a socket in its place: s's own, with the accept queue limit the socket has
// now. backlog.Resize may have changed that limit since the gate made or
// was given the socket, and the config cannot know; a socket that listens
// anew must keep it. Where the limit cannot be read, s's options stay.
func liveConfig(s *socket) listener.Config {
	cfg := s.cfg
	if sc, ok := s.ln.(syscall.Conn); ok {
		if q, err := backlog.Of(sc); err == nil {
			cfg.Backlog = q.Limit
		}
	}
	return cfg
}

// inGroup reports whether the socket has SO_REUSEPORT, so that others may
// share its address.
func inGroup(s *socket) bool {
	on := false
	rc, err := s.ln.(syscall.Conn).SyscallConn()
	if err == nil {
		rc.Control(func(fd uintptr) {
			v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT)
			on = err == nil && v != 0
		})
	}
	return on
}

// walkNote says, for a way of refusing that counts the handshakes under way,
// what that count walks: the kernel's connection table, which a network
// namespace shares with the host unless it was made with a table of its own
// (net.ipv4.tcp_child_ehash_entries, Linux 6.1+). A shared table makes the
// count, and so the stop, grow with every TCP socket on the host.
func walkNote() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_ehash_entries")
	if err != nil {
		return ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	switch {
	case err != nil:
		return ""
	case n < 0:
		return fmt.Sprintf("; counting the handshakes under way walks the connection table this namespace shares with the host (%d buckets), so it grows with every TCP socket on the host (docs/reject.md, On a busy host)", -n)
	}
	return fmt.Sprintf("; counting the handshakes under way walks this namespace's own connection table (%d buckets)", n)
}
