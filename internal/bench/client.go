package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// outcome is what one client saw of one connection. Every experiment
// classifies its clients with probe.run, so that "refused" or "reset" means
// the same in a soak, a handoff and the backlog experiment.
type outcome int

const (
	// served: connected, sent its line, read the right answer.
	served outcome = iota
	// waiting: connected, but the answer had not come by the deadline. The
	// connection sat in the accept queue (or in SYN_RECV) the whole time: the
	// kernel had finished the handshake, the gate had not accepted it.
	waiting
	// refused: the connect failed at once: the SYN was answered with a
	// reset, because no socket was listening on the address (a rejecting
	// gate, a closed socket), or the handshake was reset before connect
	// returned.
	refused
	// timedOut: the connect timed out. A full accept queue drops SYNs
	// without a word rather than refusing them, and the client retransmits
	// at 1 s, 3 s, 7 s...: a client that meets a full queue times out.
	timedOut
	// reset: the handshake completed, then the connection was reset or cut
	// off (or answered wrongly). This is the outcome a gate must never cause
	// outside a Reject call: it is a client that thought it was connected.
	reset
	// gaveUp: connected, then closed without sending anything, at
	// probe.giveUpAt, as the experiment told it to: a client that stopped
	// waiting.
	gaveUp
)

func (o outcome) String() string {
	switch o {
	case served:
		return OutcomeServed
	case waiting:
		return OutcomeWaiting
	case refused:
		return OutcomeRefused
	case timedOut:
		return OutcomeTimedOut
	case gaveUp:
		return OutcomeGaveUp
	}
	return OutcomeReset
}

// probe is what one client of an experiment does on a new connection:
// connect, send one line, read one line back.
type probe struct {
	network string // "tcp" or "tcp4"
	// dial connects instead of net.Dialer, for clients across a Net.
	dial           func(ctx context.Context, network, address string) (net.Conn, error)
	connectTimeout time.Duration // for the connect
	answerTimeout  time.Duration // after the connect, unless deadline is set
	deadline       time.Time     // for the whole connection; overrides both timeouts
	request        string        // sent at once; ends in "\n" or "\r\n\r\n"
	// giveUpAt, when set, makes the client send nothing and close once
	// connected at that moment instead.
	giveUpAt time.Time
	// answered says whether the first line read back is the right answer;
	// nil takes any line.
	answered func(line string) bool
}

// attempt is what a probe saw.
type attempt struct {
	outcome   outcome
	connected time.Time     // when the connect completed; zero if it failed
	connect   time.Duration // how long the connect took; 0 if it failed
	first     time.Duration // from the dial to the answer; 0 if none came
}

func (p probe) run(addr string) attempt {
	t0 := time.Now()
	dialTimeout, deadline := p.connectTimeout, p.deadline
	if !deadline.IsZero() {
		dialTimeout = min(dialTimeout, time.Until(deadline))
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	dial := p.dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, p.network, addr)
	cancel()
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
			// ECONNRESET from connect itself: on loopback the whole
			// handshake runs inside the client's connect, so a listener
			// that stopped (or closed) mid-handshake resets the client
			// before connect returns. It never saw a connection: for it, as
			// for a refused one, the connect failed. (Over a network the
			// same reset comes after connect returned; docs/reject.md's "Without
			// privileges" says when it can happen.)
			return attempt{outcome: refused}
		case isTimeout(err):
			return attempt{outcome: timedOut}
		}
		// Anything else (out of ports or descriptors) is counted as a reset,
		// so that nothing goes unseen.
		return attempt{outcome: reset, connected: time.Now()}
	}
	defer c.Close()
	a := attempt{connected: time.Now()}
	a.connect = a.connected.Sub(t0)
	if deadline.IsZero() {
		deadline = a.connected.Add(p.answerTimeout)
	}
	c.SetDeadline(deadline)
	if !p.giveUpAt.IsZero() {
		time.Sleep(time.Until(p.giveUpAt)) // the client's patience, not synchronisation
		a.outcome = gaveUp
		return a
	}
	if _, err := io.WriteString(c, p.request); err != nil {
		a.outcome = reset
		return a
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err == nil && (p.answered == nil || p.answered(line)):
		a.outcome, a.first = served, time.Since(t0)
	case isTimeout(err):
		a.outcome = waiting
	default:
		a.outcome = reset
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveLines answers each connection's first line with the same line, until
// l is closed; wg counts its goroutines.
func serveLines(wg *sync.WaitGroup, l net.Listener) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					io.WriteString(c, line)
				}
			}()
		}
	}()
}
