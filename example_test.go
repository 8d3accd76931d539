package acceptgate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// Shutdown closes the gate and waits for the connections it handed out;
// those still open when the context ends are closed, and the error says so.
// (For an http.Server, use httpgate.Shutdown, which calls it in the right
// order.)
func ExampleListener_Shutdown() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0", acceptgate.WithTracking())
	if err != nil {
		panic(err)
	}
	client, err := net.Dial("tcp", gate.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	conn, err := gate.Accept() // served by a handler that does not end in time
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = gate.Shutdown(ctx)
	var forced *acceptgate.ForcedCloseError
	switch {
	case errors.As(err, &forced):
		fmt.Println("done; closed at the deadline:", forced.Conns, errors.Is(err, context.DeadlineExceeded))
	case err != nil:
		fmt.Println("failed:", err)
	}
	fmt.Println(gate.State())
	// Output:
	// done; closed at the deadline: 1 true
	// closed
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
