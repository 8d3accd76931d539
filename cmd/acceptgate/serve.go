package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

type serveFlags struct {
	addr     string
	maxConns int
	grace    time.Duration
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`address` the demo HTTP server listens on")
	fs.IntVar(&f.maxConns, "max-conns", 0, "at most `N` connections open at once; 0 means no limit")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "how long a shutdown waits for requests in flight")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: acceptgate serve [flags]\n\nRuns an HTTP server behind a gate named \"http\": GET / answers hello,\nGET /slow?d=2s holds the request that long. SIGTTOU pauses it, SIGTTIN\nresumes it, SIGINT or SIGTERM shut it down gracefully.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return serve(ctx, f, stdout, slog.New(slog.NewTextHandler(stderr, nil)))
}

func serve(ctx context.Context, f serveFlags, stdout io.Writer, logger *slog.Logger) error {
	gate, err := acceptgate.Listen(ctx, "tcp", f.addr,
		acceptgate.WithTracking(), acceptgate.WithMaxConns(f.maxConns), acceptgate.WithLogger(logger))
	if err != nil {
		return err
	}
	defer gate.Close()
	srv := &http.Server{Handler: demoHandler(), ReadHeaderTimeout: 10 * time.Second}

	stopSignals, err := control.HandleSignals(logger, gate)
	howTo := "Ctrl-C shuts it down"
	if err == nil {
		defer stopSignals()
		howTo = fmt.Sprintf("pause: kill -TTOU %d   resume: kill -TTIN %d   stop: Ctrl-C", os.Getpid(), os.Getpid())
	}
	fmt.Fprintf(stdout, "acceptgate: serving http://%s/ (gate \"http\")\n%s\n", gate.Addr(), howTo)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(gate) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, gate, f.grace, logger, served)
}

// shutdown refuses new clients, lets requests in flight finish and closes
// idle keep-alive connections, all within grace, so that an idle browser
// connection never holds the process up.
func shutdown(srv *http.Server, gate *acceptgate.Listener, grace time.Duration, logger *slog.Logger, served <-chan error) error {
	logger.Info("acceptgate: shutting down", "grace", grace.String())
	if err := gate.Reject(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		logger.Warn("acceptgate: reject before shutdown", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	// Whatever the server does not track itself (hijacked connections).
	if gerr := gate.Shutdown(ctx); gerr != nil && err == nil {
		err = gerr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

func demoHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "d must be a duration from 0 to 1m, such as 2s", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprintf(w, "slept %s\n", d)
		case <-r.Context().Done():
		}
	})
	return mux
}
