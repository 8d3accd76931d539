package control

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// shedGrace is how long a client has, once accepted or idle, to have its
// next request header read before it counts as silent and may be closed
// for a newcomer. It covers a client that writes its request just after
// connecting and a busy server that reads it late (2 ms measured, on two
// loaded cores under the race detector); every accept past a full
// listener waits for a connection that old, so it also paces how fast a
// flood queued in the kernel is let through.
const shedGrace = 100 * time.Millisecond

// shedder keeps silent clients from holding every connection the admin
// listener admits. It follows the connections of the servers NewServer
// makes through their ConnState hook; while limit connections are open,
// it closes the one silent longest (accepted, or idle between requests,
// and no request header read since) once it has been silent for
// shedGrace. The slot that frees lets the gate accept the next client in
// the kernel's queue, so an operator queued behind any number of silent
// clients is reached after as many accepts, and then its request, sent at
// once, is read before it is the one silent longest. A connection serving
// a request is never closed.
//
// A server without the hook (a bare http.Server) tells it nothing, and
// then the listener's bound alone holds: nothing is closed.
type shedder struct {
	limit int
	audit *auditor // told of each connection closed

	mu     sync.Mutex
	open   map[net.Conn]*list.Element // every connection opened and not yet closed; its place in silent, or nil while it serves a request
	silent list.List                  // of *silence, longest first
	timer  *time.Timer                // pending recheck, nil if none
}

// silence is a connection with no request header read since.
type silence struct {
	c     net.Conn
	since time.Time
}

func newShedder(limit int, audit *auditor) *shedder {
	return &shedder{limit: limit, audit: audit, open: make(map[net.Conn]*list.Element)}
}

// connState is an http.Server's ConnState hook.
func (s *shedder) connState(c net.Conn, state http.ConnState) {
	now := time.Now()
	s.mu.Lock()
	switch state {
	case http.StateNew:
		s.open[c] = s.silent.PushBack(&silence{c, now})
	case http.StateIdle:
		if e, ok := s.open[c]; ok && e == nil {
			s.open[c] = s.silent.PushBack(&silence{c, now})
		}
	case http.StateActive:
		if e := s.open[c]; e != nil {
			s.silent.Remove(e)
			s.open[c] = nil
		}
	case http.StateClosed, http.StateHijacked:
		// A hijacked connection is the handler's, and the server does not
		// report its close: forgetting it now is the only way not to keep
		// it for good.
		s.forgetLocked(c)
	}
	shed := s.shedLocked(now)
	s.mu.Unlock()
	s.close(shed, now)
}

// recheck sheds the connection silent longest if it has been for long
// enough by now.
func (s *shedder) recheck() {
	now := time.Now()
	s.mu.Lock()
	s.timer = nil
	shed := s.shedLocked(now)
	s.mu.Unlock()
	s.close(shed, now)
}

// shedLocked forgets and returns the connection silent longest, for the
// caller to close, if limit are open and it has been silent for shedGrace;
// if it has not yet, it has recheck called then.
func (s *shedder) shedLocked(now time.Time) *silence {
	if len(s.open) < s.limit {
		return nil
	}
	front := s.silent.Front()
	if front == nil {
		return nil
	}
	q := front.Value.(*silence)
	if wait := q.since.Add(shedGrace).Sub(now); wait > 0 {
		// Connections join silent at the back, so the front's time only
		// grows: a pending timer is never late, at worst early.
		if s.timer == nil {
			s.timer = time.AfterFunc(wait, s.recheck)
		}
		return nil
	}
	s.forgetLocked(q.c)
	return q
}

func (s *shedder) forgetLocked(c net.Conn) {
	if e := s.open[c]; e != nil {
		s.silent.Remove(e)
	}
	delete(s.open, c)
}

// close closes q's connection, if q is not nil, under its TLS layer if it
// has one: closing a *tls.Conn first writes an alert, which a client
// reading nothing could hold up. The server serving it then fails its read
// and closes it as it always does.
func (s *shedder) close(q *silence, now time.Time) {
	if q == nil {
		return
	}
	c := q.c
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	c.Close()
	s.audit.shed(c.RemoteAddr().String(), now.Sub(q.since))
}
