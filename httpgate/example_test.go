package httpgate_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/httpgate"
)

// On SIGTERM, answer every client the server accepted, refuse the rest, and
// close idle keep-alive connections at once, all within 30 seconds.
func ExampleShutdown() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	gate, err := acceptgate.Listen(ctx, "tcp", ":8080", acceptgate.WithTracking())
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(gate)

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var forced *acceptgate.ForcedCloseError
	switch err := httpgate.Shutdown(shutdown, srv, gate); {
	case errors.As(err, &forced):
		log.Printf("closed %d connections still open after 30s", forced.Conns)
	case err != nil:
		log.Print(err) // a step failed; everything is closed all the same
	}
}
