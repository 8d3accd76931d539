package acceptgate_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/acceptgate/acceptgate"
)

// A server behind a gate: pausing it keeps Serve running, and clients that
// connect meanwhile are served after Resume.
func Example() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	go srv.Serve(gate)
	defer srv.Close()

	gate.Pause()
	answer := make(chan string)
	go func() {
		resp, err := http.Get("http://" + gate.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answer <- string(body)
	}()
	fmt.Println(gate.State()) // the client now waits in the kernel's queue
	gate.Resume()
	fmt.Println(gate.State(), <-answer)
	// Output:
	// paused
	// accepting hello
}

// Shutdown after the server's own Shutdown closes what the server left open,
// within the same deadline.
func ExampleListener_Shutdown() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0", acceptgate.WithTracking())
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(gate) }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // closes the gate, idle keep-alives, waits for requests
	err = gate.Shutdown(ctx)
	fmt.Println(<-served, err, gate.State())
	// Output: http: Server closed <nil> closed
}

// WithMaxConns caps the connections open at once; the rest wait in the
// kernel's accept queue, as with netutil.LimitListener.
func ExampleWithMaxConns() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0", acceptgate.WithMaxConns(100))
	if err != nil {
		panic(err)
	}
	defer gate.Close()
	fmt.Println(gate.Stats().Active)
	// Output: 0
}

// WithSkipAborted: after a pause, a server is not handed the connections of
// clients that left the queue without sending anything; Stats().Aborted
// counts them.
func ExampleWithSkipAborted() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0", acceptgate.WithSkipAborted())
	if err != nil {
		panic(err)
	}
	defer gate.Close()
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(gate)
	defer srv.Close()

	gate.Pause()
	// ... clients queue; some give up ...
	gate.Resume()
	fmt.Println(gate.Stats().Aborted) // on Linux, the ones that gave up
}
