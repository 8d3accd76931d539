// Package httpgate shuts down an http.Server served on acceptgate Listeners
// without losing a client the server accepted.
//
// It is a package of its own so that the acceptgate package, which gates any
// net.Listener (gRPC, raw TCP, unix sockets), does not import net/http.
package httpgate

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/acceptgate/acceptgate"
)

// Shutdown shuts srv down, and the gates it serves on, answering every
// request of every client whose connect succeeded. It returns when the
// gates and all the connections they handed out are closed.
//
// In order, Shutdown:
//
//  1. turns srv's keep-alives off, which closes its idle HTTP/1
//     connections at once and has every other one closed after its
//     current answer;
//  2. makes each gate reject new clients (see acceptgate.Listener.Reject)
//     and waits until srv has accepted the clients the kernel admitted
//     before, those in the accept queue and those taken out by Reject;
//  3. closes the gates and waits until the connections they handed out
//     are closed (see acceptgate.Listener.Shutdown): each closes after the
//     answer to its request, including a request read only now;
//  4. calls srv.Shutdown, which then finds nothing left to wait for and
//     runs the functions given to srv.RegisterOnShutdown.
//
// srv.Serve returns once its gate is closed, with an error wrapping
// net.ErrClosed, or http.ErrServerClosed if it sees step 4 first: either is
// the end of serving, not a failure.
//
// Calling srv.Shutdown first loses clients: it closes the gates, resetting
// the clients in their accept queues, and a connection it accepted just
// before, whose request it reads after Shutdown began, is closed
// unanswered (net/http checks that it is shutting down after each read of
// a request).
//
// If ctx ends first, Shutdown closes what is left, hijacked connections
// too (srv.Shutdown alone does not), and returns a
// *acceptgate.ForcedCloseError wrapping ctx.Err(): the shutdown is
// complete. That includes a context that ended while clients still waited
// in an accept queue (srv too slow to take them, or not serving that gate):
// closing the gate refuses them, and the error's Conns, which counts the
// connections closed, leaves them out. Any other error means a step failed; Shutdown still goes
// through every step and joins the errors, with ctx.Err() if ctx ended.
// Shutdown returns nil, not http.ErrServerClosed, when all went well.
//
// The gates should track their connections (acceptgate.WithTracking or
// WithMaxConns): an untracked gate cannot tell when its connections are
// done, and srv.Shutdown alone then waits for them, with the loss above.
// A gate already closed (handed to another process by package handoff)
// is not made to reject, which would refuse the other process's clients:
// Shutdown waits for the connections it delivers and handed out, as for
// the others. A connection that never sends its request is
// closed at srv.ReadHeaderTimeout, or when ctx ends.
//
// HTTP/2 connections are not closed by keep-alives being off
// (golang.org/issue/26303); they are told to go away (GOAWAY) by step 4,
// so with HTTP/2 on, Shutdown waits for them until ctx ends. A gRPC server
// needs another sequence: Reject the gates and wait as in step 2, then call
// its GracefulStop, which sends every connection, one accepted meanwhile
// included, a GOAWAY that clients retry on; call Stop when the deadline
// comes.
func Shutdown(ctx context.Context, srv *http.Server, gates ...*acceptgate.Listener) error {
	srv.SetKeepAlivesEnabled(false)
	var errs []error
	for _, g := range gates {
		if err := g.Reject(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, errors.ErrUnsupported) {
			errs = append(errs, err) // it goes on accepting; closing it refuses the rest
		}
	}
	forced, cut := 0, false
	for _, g := range gates {
		if !awaitDelivered(ctx, g) {
			cut = true // the clients still queued are refused by the close
		}
	}
	for _, err := range shutdownGates(ctx, gates) {
		var fe *acceptgate.ForcedCloseError
		if errors.As(err, &fe) {
			forced, cut = forced+fe.Conns, true
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	switch err := srv.Shutdown(ctx); {
	case err != nil && err == ctx.Err():
		srv.Close() // what no gate tracked
		cut = true
	case err != nil && !errors.Is(err, net.ErrClosed): // net.ErrClosed: the gates, closed before
		errs = append(errs, err)
	}
	switch {
	case len(errs) > 0 && ctx.Err() != nil:
		return errors.Join(append(errs, ctx.Err())...)
	case len(errs) > 0:
		return errors.Join(errs...)
	case cut:
		return &acceptgate.ForcedCloseError{Conns: forced, Err: ctx.Err()}
	}
	return nil
}

// shutdownGates shuts the gates down at once, so that each waits for its
// connections while the others do.
func shutdownGates(ctx context.Context, gates []*acceptgate.Listener) []error {
	errs := make([]error, len(gates))
	done := make(chan struct{})
	for i, g := range gates {
		go func() {
			errs[i] = g.Shutdown(ctx)
			done <- struct{}{}
		}()
	}
	for range gates {
		<-done
	}
	return errs
}

// awaitDelivered waits until g has handed out every client the kernel
// admitted before it rejected, and reports true, or until ctx ends with
// some still waiting, and reports false. The kernel does not say when its
// accept queue empties, so it looks, backing off as http.Server.Shutdown
// does.
func awaitDelivered(ctx context.Context, g *acceptgate.Listener) bool {
	const maxPoll = 50 * time.Millisecond
	poll := time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if st := g.Stats(); st.Pending == 0 && st.Queued <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			st := g.Stats()
			return st.Pending == 0 && st.Queued <= 0
		case <-t.C:
		}
		t.Reset(poll)
		poll = min(2*poll, maxPoll)
	}
}
