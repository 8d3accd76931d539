package acceptgate_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate"
)

// FuzzTransitions decodes a byte string as operations on a real loopback
// gate (pause, reject, resume, close, and a client that must get what the
// state promises) and checks each against a model of the states.
func FuzzTransitions(f *testing.F) {
	f.Add([]byte{0, 4, 2, 4})       // pause, client, resume, client
	f.Add([]byte{1, 4, 1, 2, 4})    // reject twice, client refused, resume
	f.Add([]byte{0, 1, 2, 3, 0, 4}) // everything after close fails
	f.Add([]byte{4, 0, 1, 0, 2, 4})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 32 {
			ops = ops[:32]
		}
		// An address of its own in 127/8, so that no other fuzz worker's
		// socket can be on it: clients then only ever reach this gate.
		host := fmt.Sprintf("127.%d.%d.%d:0", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		l, err := acceptgate.Listen(t.Context(), "tcp4", host)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		model := acceptgate.Accepting
		portLost := false
		for i, op := range ops {
			var err error
			next := model
			switch op % 5 {
			case 0:
				err, next = l.Pause(), acceptgate.Paused
			case 1:
				err, next = l.Reject(), acceptgate.Rejecting
			case 2:
				err, next = l.Resume(), acceptgate.Accepting
			case 3:
				err, next = l.Close(), acceptgate.Closed
			case 4:
				// After Close the port is free: another socket, even
				// another fuzz worker's, may have it.
				if model != acceptgate.Closed && !portLost {
					checkClient(t, l, model)
				}
				continue
			}
			switch {
			case model == acceptgate.Closed:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("op %d (%d) after close: %v", i, op%5, err)
				}
			case errors.Is(err, syscall.EADDRINUSE) && model == acceptgate.Rejecting:
				// A port-0 socket's port was handed to another socket in
				// the instant Reject stopped it (other fuzz workers ask
				// for ports all the time): Resume reports it and the gate
				// stays rejecting. Clients may now reach the other socket.
				portLost = true
			case err != nil:
				t.Fatalf("op %d (%d) from %s: %v", i, op%5, model, err)
			default:
				model = next
			}
			if got := l.State(); got != model {
				t.Fatalf("op %d: state %s, model %s", i, got, model)
			}
		}
	})
}

// checkClient dials l and checks the outcome against the state: accepted and
// served when accepting, queued (connect succeeds, Accept does not return)
// when paused, refused when rejecting or closed.
func checkClient(t *testing.T, l *acceptgate.Listener, model acceptgate.State) {
	c, err := net.DialTimeout("tcp4", l.Addr().String(), patience)
	switch model {
	case acceptgate.Rejecting:
		if err == nil {
			c.Close()
			t.Fatalf("connected while %s", model)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial while %s: %v", model, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("dial while %s: %v", model, err)
	}
	defer c.Close()
	if model == acceptgate.Paused {
		return // it waits in the queue; Reject or Resume will deliver it
	}
	done := make(chan error, 1)
	go func() {
		ac, err := l.Accept()
		if err == nil {
			ac.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Accept while accepting: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Accept while accepting did not return")
	}
}
