package acceptgate

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

// settleTime bounds how long a TCP socket that must stop listening waits for
// the handshakes under way on it to complete, so that the kernel does not
// reset their clients. TCP sends the SYN-ACK again after one second: a
// handshake not done by then has lost a packet or belongs to a
// TCP_DEFER_ACCEPT client that has sent nothing.
var settleTime = time.Second

// stopWhenSettledLocked stops s listening at a moment when no client is
// waiting in its accept queue and no handshake is under way, so that the
// kernel resets no one: it takes the queue out into l.pending and waits, up
// to settleTime, for handshakes to complete. Past that it stops anyway, and
// clients whose handshake is still under way are reset. On error s still
// listens, and what was taken out is pending.
//
// A member of an SO_REUSEPORT group that others listen in does not wait for
// handshakes: see sharesHandshakes.
func (l *Listener) stopWhenSettledLocked(s *socket) error {
	sc, ok := s.ln.(syscall.Conn)
	if !ok || s.wake == nil {
		return errNoSocket
	}
	defer s.wake(time.Unix(1, 0)) // no one may accept from it any more
	waitHandshakes := !l.sharesHandshakes(s)
	late := time.Now().Add(settleTime)
	for {
		if err := l.drainLocked(s, sc); err != nil {
			return err
		}
		stopped, err := stopIfSettled(s.ln, waitHandshakes, time.Now().After(late))
		if err != nil || stopped {
			return err
		}
		// A handshake is under way: the next client to complete wakes us.
		if _, err := l.acceptOneLocked(s, time.Millisecond); err != nil {
			return err
		}
	}
}

// drainLocked takes every connection in s's accept queue into l.pending.
func (l *Listener) drainLocked(s *socket, sc syscall.Conn) error {
	for {
		q, err := backlog.Of(sc)
		if err != nil {
			return err
		}
		if q.Len == 0 {
			return nil
		}
		for range q.Len {
			if _, err := l.acceptOneLocked(s, time.Second); err != nil {
				return err
			}
		}
	}
}

// acceptOneLocked takes one connection from s into l.pending, waiting up to
// wait for one. It reports whether it took one.
func (l *Listener) acceptOneLocked(s *socket, wait time.Duration) (bool, error) {
	if err := s.wake(time.Now().Add(wait)); err != nil {
		return false, err
	}
	if err := faults.Check(faults.Accept); err != nil {
		return false, err
	}
	c, err := s.ln.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.pending = append(l.pending, c)
	return true, nil
}

// sharesHandshakes reports whether s is a member of an SO_REUSEPORT group
// in which other sockets listen too, so that the handshakes under way on its
// address and port are not all its own, and says what its stop does to them.
//
// The kernel does not tell which member a handshake under way belongs to
// (sock_diag reports a request socket with no inode, owner or listener), so
// the member cannot wait for its own: waiting for the group's would hold
// each Reject for a second behind the other members' clients, a
// TCP_DEFER_ACCEPT one that has sent nothing, or any under load. Nor would
// waiting spare its own: while it listens the group's hash goes on handing
// it its share of new clients, as many as it had, until it stops. So it
// stops once its queue is taken out. With net.ipv4.tcp_migrate_req=1
// (Linux 5.14+) the kernel moves the handshakes under way on it to the
// members that still listen, and no client is reset; without it they are
// reset, as they are when a member closes. A member that listens alone in
// its group counts handshakes and waits, as any other socket does.
func (l *Listener) sharesHandshakes(s *socket) bool {
	if !inGroup(s) {
		return false
	}
	n, err := backlog.Listeners(s.ln.(syscall.Conn))
	if err != nil || n <= 1 {
		return false // alone, or unknown: the count on its address is the safe one
	}
	if !migratesRequests() {
		l.logger.Debug("acceptgate: a member of a group stops without waiting for handshakes; they are reset unless net.ipv4.tcp_migrate_req=1",
			"addr", s.ln.Addr().String(), "listeners", n)
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

// stopIfSettled shuts the socket down if its accept queue is empty and, with
// handshakes, no handshake is under way on its address and port; or at once
// if force. The checks and the shutdown follow each other within
// microseconds: a client that completes its handshake in between is the one
// the kernel can still reset.
func stopIfSettled(ln net.Listener, handshakes, force bool) (stopped bool, err error) {
	sc := ln.(syscall.Conn)
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	cerr := rc.Control(func(uintptr) {
		if !force {
			if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
				err = e
				return
			}
			if handshakes {
				if err = faults.Check(faults.Handshakes); err != nil {
					return
				}
				if n, e := backlog.Handshakes(sc); e != nil || n > 0 {
					err = e
					return
				}
				if q, e := backlog.Of(sc); e != nil || q.Len > 0 {
					err = e
					return // one completed while we counted
				}
			}
		}
		if err = faults.Check(faults.Shutdown); err != nil {
			return
		}
		if err = sockets.StopListening(ln); err != nil {
			return
		}
		stopped = true
	})
	if cerr != nil {
		return false, cerr
	}
	return stopped, err
}
