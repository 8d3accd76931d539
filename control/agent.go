package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/acceptgate/acceptgate"
)

// The replies of HAProxy's agent check (agent-check on a server line): the
// administrative state HAProxy puts the server in at its next check.
const (
	AgentReady = "ready" // take new sessions (ends a drain or maintenance the agent set)
	AgentDrain = "drain" // no new sessions; those under way finish
	AgentMaint = "maint" // maintenance: no traffic at all
)

// agentConns bounds the agent connections served at once; more wait in
// the kernel's queue. HAProxy opens one per server line and check.
const agentConns = 16

// agentTimeout bounds one agent connection: the line is a few bytes,
// written at once, and the checker closes once it has read it.
const agentTimeout = 2 * time.Second

// AgentReply is what the agent check answers now, from the drain and the
// states of the registered gates: AgentDrain while a drain was asked for
// (it is never undone) or while any gate pauses (its clients would wait),
// else AgentMaint while any gate rejects, else AgentReady. A closed gate
// changes nothing here: it is the end of the process, which the health
// check (check, or option httpchk on /readyz) notices, not an operator's
// decision.
func (h *Handler) AgentReply() string {
	if h.draining() {
		return AgentDrain
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	reply := AgentReady
	for _, g := range h.gates {
		switch g.State() {
		case acceptgate.Paused:
			return AgentDrain
		case acceptgate.Rejecting:
			reply = AgentMaint
		}
	}
	return reply
}

// ServeAgent answers HAProxy's agent check on ln: each connection gets one
// line, AgentReply and a newline, and is closed. An operator's ctl pause,
// reject or drain thus takes effect in the balancer at its next agent
// check (agent-inter), without waiting for a health check to fail fall
// times, and ctl resume brings the server back as fast. HAProxy takes no
// failure to reach the agent for a failure of the server: keep a health
// check beside it.
//
// The reply tells no more than /readyz does, so the agent asks for no
// token; serve ln where the balancer can reach it. What the checker sends
// (HAProxy's agent-send) is read and ignored. ServeAgent returns when
// Accept fails with anything but a temporary error, with that error
// (wrapping net.ErrClosed once ln is closed), after the connections under
// way are closed.
func (h *Handler) ServeAgent(ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, agentConns)
	var backoff time.Duration
	for {
		sem <- struct{}{}
		c, err := ln.Accept()
		if err != nil {
			<-sem
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors, say: try again, as net/http does,
				// rather than give the agent up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("control: agent: %w", err)
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.answerAgent(c)
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// answerAgent writes the reply, then reads until the checker closes: a
// close with what it sent still unread would reset the connection, and a
// checker may lose the reply to the reset.
func (h *Handler) answerAgent(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(agentTimeout))
	if _, err := io.WriteString(c, h.AgentReply()+"\n"); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, 4096))
}
