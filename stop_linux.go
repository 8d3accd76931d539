package acceptgate

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/handover"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// stopped is the refusal of a TCP socket that no longer listens: it was
// shut down at a moment when its queue was empty and no handshake was
// under way (stopWhenSettledOpLocked), so that the kernel reset no one,
// and new clients are refused. It holds its port meanwhile, so that no
// other socket binds it; Resume gives the port back and listens again on
// the same descriptor, with the queue limit it had.
type stopped struct {
	release func() error // gives back the hold on the port; nil if none
}

// stopOpLocked stops s listening once settled, and holds its port.
func (l *Listener) stopOpLocked(s *socket) (*socket, error) {
	cfg := liveConfig(s) // read while it listens: Resume listens with it
	if err := l.stopWhenSettledOpLocked(s, true); err != nil {
		return nil, err
	}
	ns := s.refusing(&stopped{release: holdPort(s)})
	ns.cfg = cfg
	return ns, nil
}

// holdPort holds s's port, best effort: a port taken in this instant is
// reported by Resume.
func holdPort(s *socket) func() error {
	if err := s.faults.Check(faults.Hold); err != nil {
		return nil
	}
	release, _ := sockets.HoldPort(s.ln)
	return release
}

// adoptStopped takes over a stopped socket another process handed over,
// with the hold on its port.
func adoptStopped(ln net.Listener) *stopped {
	return &stopped{release: func() error { return sockets.ReleasePort(ln) }}
}

func (st *stopped) delivers() bool  { return false }
func (st *stopped) listening() bool { return false }

// lift listens again on the descriptor, on the same address and port, after
// giving back the hold on it. On error it holds the port again for the
// next try.
func (st *stopped) lift(_ *Listener, s *socket) (*socket, error) {
	if st.release != nil {
		if err := st.release(); err != nil {
			return nil, err
		}
	}
	if err := relisten(s); err != nil {
		return s.refusing(&stopped{release: holdPort(s)}), err
	}
	return s.accepting(), nil
}

func relisten(s *socket) error {
	if err := s.faults.Check(faults.Listen); err != nil {
		return err
	}
	return sockets.Relisten(s.ln, s.cfg.Backlog)
}

// close makes the socket listen again first for its other holders, if the
// gate did not create it.
func (st *stopped) close(s *socket) error {
	return s.closeForOthers(func() error {
		var errs []error
		if st.release != nil {
			errs = append(errs, st.release())
		}
		return errors.Join(append(errs, relisten(s))...)
	})
}

func (st *stopped) describe(hs *handover.Socket) error {
	hs.Reject = handover.RejectStopped
	return nil
}

func (st *stopped) extraFDs() []int { return nil }
func (st *stopped) letGo() error    { return nil }

// settleTime bounds how long a TCP socket that must stop listening waits for
// the handshakes under way on it to complete, so that the kernel does not
// reset their clients. TCP sends the SYN-ACK again after one second: a
// handshake not done by then has lost a packet or belongs to a
// TCP_DEFER_ACCEPT client that has sent nothing.
var settleTime = time.Second

// stopWhenSettledOpLocked stops s listening at a moment when no client is
// waiting in its accept queue and no handshake is under way, so that the
// kernel resets no one: it takes the queue out into l.pending and waits, up
// to settleTime, for handshakes to complete. A count that finds none under
// way while near clients complete theirs into the queue takes those out
// and stops (stopAfterNearOnesOpLocked). Past settleTime it stops anyway,
// and clients whose handshake is still under way are reset. On error s
// still listens, and what was taken out is pending.
// Without count it does not count handshakes: a watch found none under way
// on a fenced socket, which begins none (settleWatch).
//
// A member of an SO_REUSEPORT group whose handshakes the kernel moves to
// the other members does not wait for them: see handsOffHandshakes.
func (l *Listener) stopWhenSettledOpLocked(s *socket, count bool) error {
	sc, ok := s.ln.(syscall.Conn)
	if !ok || s.wake == nil {
		return errNoSocket
	}
	defer s.wake(time.Unix(1, 0)) // no one may accept from it any more
	waitHandshakes := count && !l.handsOffHandshakes(s)
	late := time.Now().Add(settleTime)
	var taken []net.Conn
	for {
		var err error
		taken, err = l.drainOpLocked(s, sc, taken, nil)
		if err != nil {
			l.addPending(taken...)
			return err
		}
		// The drain handed over all but its last batch as it went; that
		// one is handed to Accept only after the check and the stop:
		// waking Accept goroutines in between would give the scheduler a
		// reason to stretch the moment from "no handshake under way" to
		// the stop, in which a new client is reset.
		forced := time.Now().After(late)
		found, err := stopIfSettled(s, waitHandshakes, forced)
		if err == nil && found.completedWhileCounted {
			taken, found.stopped, err = l.stopAfterNearOnesOpLocked(s, sc, taken, found.counting)
		}
		l.addPending(taken...)
		taken = nil
		if found.stopped && forced {
			l.logger.Warn("acceptgate: stopped listening with handshakes still under way; the kernel resets those of this socket's clients",
				"addr", s.ln.Addr().String(), "waited", settleTime.String())
		}
		if err != nil || found.stopped {
			return err
		}
		// A handshake is under way: the next client to complete wakes us.
		c, err := l.acceptOneOpLocked(s, time.Millisecond)
		if err != nil {
			return err
		}
		if c != nil {
			taken = append(taken, c)
		}
	}
}

// stopAfterNearOnesOpLocked is the stop for a count that found no
// handshake under way while clients completed theirs into the queue. The
// count walks the kernel's connection table, which takes from a
// millisecond to tens of them on a busy host, and under a steady stream of
// new clients some always complete meanwhile: waiting for a count during
// which none does would wait out settleTime and force the stop. It takes
// them out instead, and stops if the queue is then empty and they all
// completed their handshake in less than a quarter of the count's time.
//
// What makes that safe is the round trip. A handshake that began during
// the count, in a part of the table already walked, and is still under way
// at the stop, began less than its round trip before the stop; that is so
// of any way of stopping, a count that saw nothing completing included. A
// handshake that began earlier has completed and was just taken out, if
// its round trip was as short as those of the clients taken out. Where
// those round trips are long against the count (clients far away), a count
// that saw none completing is the better sign that none began, and the
// stop waits for one as before.
func (l *Listener) stopAfterNearOnesOpLocked(s *socket, sc syscall.Conn, taken []net.Conn, counting time.Duration) ([]net.Conn, bool, error) {
	var rt roundTrips
	taken, err := l.drainOpLocked(s, sc, taken, &rt)
	if err != nil {
		return taken, false, err
	}
	if rt.unknown || 4*rt.longest >= counting {
		return taken, false, nil
	}
	stopped, err := stopIfEmpty(s)
	return taken, stopped, err
}

// handshakeRTT is the round trip the kernel measured on c's handshake (the
// first sample of TCP_INFO's tcpi_rtt, read before c has carried data), if
// c is a TCP connection whose TCP_INFO can be read.
func handshakeRTT(c net.Conn) (time.Duration, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var rtt time.Duration
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if ierr == nil {
			rtt = time.Duration(info.Rtt) * time.Microsecond
		}
	}); err != nil || ierr != nil {
		return 0, false
	}
	return rtt, true
}

// deliverBatch is how many connections a drain takes before it hands them
// to Accept: a long queue is delivered as it is taken out, the first client
// a few dozen accepts after Reject began, not after the last one.
const deliverBatch = 16

// drainOpLocked takes every connection in s's accept queue. It hands them
// to Accept in batches as it goes, and returns the last batch, fewer than
// deliverBatch, appended to taken: those are handed over after the check
// that follows (see stopWhenSettledOpLocked).
func (l *Listener) drainOpLocked(s *socket, sc syscall.Conn, taken []net.Conn, rt *roundTrips) ([]net.Conn, error) {
	for {
		q, err := backlog.Of(sc)
		if err != nil {
			return taken, err
		}
		if q.Len == 0 {
			return taken, nil
		}
		// The queue holds q.Len: one deadline for them all, a bound in
		// case a client gave up and the kernel took it back meanwhile.
		if err := s.wake(time.Now().Add(time.Second)); err != nil {
			return taken, err
		}
		for range q.Len {
			c, err := l.takeOpLocked(s)
			if err != nil {
				return taken, err
			}
			if c != nil {
				rt.add(c)
				taken = append(taken, c)
			}
			if len(taken) >= deliverBatch {
				l.addPending(taken...)
				taken = nil
			}
		}
	}
}

// acceptOneOpLocked takes one connection from s, waiting up to wait for
// one; nil if none came.
func (l *Listener) acceptOneOpLocked(s *socket, wait time.Duration) (net.Conn, error) {
	if err := s.wake(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	return l.takeOpLocked(s)
}

// takeOpLocked takes one connection from s, by the deadline set on it; nil
// if none came.
func (l *Listener) takeOpLocked(s *socket) (net.Conn, error) {
	if err := s.faults.Check(faults.Accept); err != nil {
		return nil, err
	}
	c, err := s.ln.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// handsOffHandshakes reports whether s can stop without waiting for the
// handshakes under way on its address and port, because the kernel hands
// them to another socket: s is a member of an SO_REUSEPORT group in which
// other sockets listen, and net.ipv4.tcp_migrate_req=1 (Linux 5.14+) moves
// a stopped member's request sockets to the members still listening.
//
// Elsewhere the member waits, as any socket does, until no handshake is
// under way on its address and port, at most settleTime. The count covers
// the whole group, since the kernel does not say which member a handshake
// belongs to (sock_diag reports a request socket with no inode, owner or
// listener): an upper bound on the member's own, and the one safe signal it
// has. So it may wait for the other members' clients, up to the bound,
// and under sustained load it waits the bound and then resets its own
// handshakes under way, as a member that closes does.
func (l *Listener) handsOffHandshakes(s *socket) bool {
	if !inGroup(s) {
		return false
	}
	n, err := backlog.Listeners(s.ln.(syscall.Conn))
	if err != nil || n <= 1 {
		return false // alone, or unknown: nobody to hand them to
	}
	if !migratesRequests() {
		l.logger.Debug("acceptgate: a member of a group waits for the group's handshakes; net.ipv4.tcp_migrate_req=1 would spare it the wait",
			"addr", s.ln.Addr().String(), "listeners", n)
		return false
	}
	return true
}

// migratesRequests reports whether the kernel moves the handshakes under way
// on a member of an SO_REUSEPORT group that stops listening to another
// member (net.ipv4.tcp_migrate_req, read in this thread's network
// namespace).
func migratesRequests() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return err == nil && len(b) > 0 && b[0] == '1'
}

// look is what stopIfSettled found.
type look struct {
	stopped bool // the socket no longer listens
	// completedWhileCounted: no handshake was under way, but clients
	// completed theirs into the queue while they were counted, which took
	// counting.
	completedWhileCounted bool
	counting              time.Duration
}

// stopIfSettled shuts the socket down if its accept queue is empty and, with
// handshakes, no handshake is under way on its address and port; or at once
// if force. The checks and the shutdown follow each other within
// microseconds: a client that completes its handshake in between is the one
// the kernel can still reset.
func stopIfSettled(s *socket, handshakes, force bool) (found look, err error) {
	sc := s.ln.(syscall.Conn)
	rc, err := sc.SyscallConn()
	if err != nil {
		return found, err
	}
	cerr := rc.Control(func(uintptr) {
		if !force {
			if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
				err = e
				return
			}
			if handshakes {
				if err = s.faults.Check(faults.Handshakes); err != nil {
					return
				}
				began := time.Now()
				if n, e := backlog.Handshakes(sc); e != nil || n > 0 {
					err = e
					return
				}
				if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
					err = e
					found = look{completedWhileCounted: e == nil, counting: time.Since(began)}
					return
				}
			}
		}
		found.stopped, err = stop(s)
	})
	if cerr != nil {
		return look{}, cerr
	}
	return found, err
}

// stopIfEmpty shuts the socket down if its accept queue is empty.
func stopIfEmpty(s *socket) (stopped bool, err error) {
	sc := s.ln.(syscall.Conn)
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	cerr := rc.Control(func(uintptr) {
		if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
			err = e
			return
		}
		stopped, err = stop(s)
	})
	if cerr != nil {
		return false, cerr
	}
	return stopped, err
}

func stop(s *socket) (bool, error) {
	if err := s.faults.Check(faults.Shutdown); err != nil {
		return false, err
	}
	if err := sockets.StopListening(s.ln); err != nil {
		return false, err
	}
	return true, nil
}

// roundTrips is the longest handshake round trip of the connections a
// drain took, and whether one's could not be read.
type roundTrips struct {
	longest time.Duration
	unknown bool
}

// add counts c's round trip; a nil roundTrips counts nothing.
func (rt *roundTrips) add(c net.Conn) {
	if rt == nil {
		return
	}
	rtt, ok := handshakeRTT(c)
	if !ok {
		rt.unknown = true
	}
	rt.longest = max(rt.longest, rtt)
}
