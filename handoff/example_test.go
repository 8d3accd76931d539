package handoff_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
	"github.com/acceptgate/acceptgate/httpgate"
)

// The old process offers its gate; when a new process has taken it, the old
// one answers the requests it was handed and leaves.
func ExampleListen() {
	ctx := context.Background()
	gate, err := acceptgate.Listen(ctx, "tcp", "127.0.0.1:8080", acceptgate.WithTracking())
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(gate)

	offer, err := handoff.Listen(ctx, "/run/myserver/upgrade.sock", map[string]*acceptgate.Listener{"http": gate})
	if err != nil {
		log.Fatal(err)
	}
	if err := offer.Serve(ctx); err != nil {
		log.Fatal(err)
	}
	// The socket is the new process's now: answer the requests of the
	// clients this one accepted, and leave.
	shutdown, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var forced *acceptgate.ForcedCloseError
	if err := httpgate.Shutdown(shutdown, srv, gate); err != nil && !errors.As(err, &forced) {
		log.Print(err) // a step failed; forced is a shutdown cut at its deadline, done
	}
}

// The new process takes the gate, serves it, and commits; until it commits,
// the old process can take everything back.
func ExampleTake() {
	ctx := context.Background()
	tk, err := handoff.Take(ctx, "/run/myserver/upgrade.sock", handoff.WithGateOptions(func(string) []acceptgate.Option {
		return []acceptgate.Option{acceptgate.WithTracking()}
	}))
	if err != nil {
		log.Fatal(err) // the old process serves on
	}
	gate := tk.Listeners()["http"]
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(gate)
	if err := tk.Commit(ctx); err != nil && gate.State() == acceptgate.Closed {
		log.Fatal(err) // the old process has the sockets and serves on
	} else if err != nil {
		log.Print(err) // the old process ended or did not confirm: this one serves
	}
	log.Printf("serving on %s, taken from process %d", gate.Addr(), tk.PID())
}
