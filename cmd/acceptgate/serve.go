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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
	"github.com/acceptgate/acceptgate/internal/sockets"
	"github.com/acceptgate/acceptgate/metrics"
)

type serveFlags struct {
	addr       string
	admin      string
	tokenFile  string
	adminCert  string
	adminKey   string
	adminHosts []string
	backlog    int
	reusePort  bool
	maxConns   int
	skip       bool
	grace      time.Duration
	signals    bool
	systemd    bool
	adminSet   bool // --admin was given, not defaulted
}

const serveUsage = `Usage: acceptgate serve [flags]

Runs an HTTP server behind a gate named "http": GET / answers hello,
GET /slow?d=2s holds the request that long. The admin API (acceptgate ctl,
or the page at its /), and with --signals SIGTTOU and SIGTTIN, pause and
resume it; the admin API also serves Prometheus metrics at /metrics. SIGINT or
SIGTERM shut it down gracefully: new clients refused, requests in flight
finished, idle keep-alive connections closed, all within --grace.

acceptgate ctl drain (POST /v1/drain) takes the instance out of a fleet:
/readyz fails at once, the gate keeps accepting for the drain's grace, then
rejects; serve goes on running until SIGTERM, so that a drain outside a
pod's termination never makes its container restart.

With --systemd, the sockets come from systemd socket activation: the one
named "http" (FileDescriptorName=http) serves the demo, and one named
"admin", if passed, serves the admin API in place of --admin.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("serve", serveUsage, stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "`address` the demo HTTP server listens on")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:9090", "`address` or unix socket path of the admin API; empty for none")
	fs.StringVar(&f.tokenFile, "token-file", "", "`file` holding the bearer token the admin API requires, mode 0600 (default $ACCEPTGATE_TOKEN_FILE, else the token in $ACCEPTGATE_TOKEN)")
	fs.StringVar(&f.adminCert, "admin-cert", "", "PEM certificate `file`: serve the admin API over TLS (with --admin-key)")
	fs.StringVar(&f.adminKey, "admin-key", "", "PEM private key `file` of --admin-cert")
	fs.Func("admin-host", "`name` clients may use in Host to reach an admin API without a token, besides loopback addresses and localhost; repeat or separate with commas", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				f.adminHosts = append(f.adminHosts, n)
			}
		}
		return nil
	})
	fs.IntVar(&f.backlog, "backlog", 0, "accept queue length `N`; 0 means the system maximum")
	fs.BoolVar(&f.reusePort, "reuseport", false, "set SO_REUSEPORT, so another process can share the port")
	fs.IntVar(&f.maxConns, "max-conns", 0, "at most `N` connections open at once; 0 means no limit")
	fs.BoolVar(&f.skip, "skip-aborted", false, "close, without serving, a client that gave up while it waited (closed before sending anything, or reset); Linux only")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "how long a shutdown waits for requests in flight")
	fs.BoolVar(&f.systemd, "systemd", false, "serve the sockets systemd passed (LISTEN_FDS), named \"http\" and optionally \"admin\", instead of --addr and --admin")
	fs.BoolVar(&f.signals, "signals", false, "pause on SIGTTOU and resume on SIGTTIN, as HAProxy does; the kernel also sends SIGTTOU to a background process that writes to a terminal with tostop set, which would pause it")
	if err := refuseTokenFlag(args); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: takes no arguments, %d given (not repeated here: one may be a secret)", fs.NArg())
	}
	if err := systemdConflicts(fs, f.systemd); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fs.Visit(func(fl *flag.Flag) { f.adminSet = f.adminSet || fl.Name == "admin" })
	return serve(ctx, f, stdout, slog.New(slog.NewTextHandler(stderr, nil)))
}

func serve(ctx context.Context, f serveFlags, stdout io.Writer, logger *slog.Logger) error {
	opts := []acceptgate.Option{acceptgate.WithTracking(), acceptgate.WithMaxConns(f.maxConns),
		acceptgate.WithLogger(logger), acceptgate.WithBacklog(f.backlog)}
	if f.reusePort {
		opts = append(opts, acceptgate.WithReusePort())
	}
	if f.skip {
		opts = append(opts, acceptgate.WithSkipAborted())
	}
	var gate *acceptgate.Listener
	var adminLn net.Listener
	if f.systemd {
		httpLn, admin, err := systemdSockets()
		if err != nil {
			return fmt.Errorf("serve: --systemd: %w", err)
		}
		if admin != nil && f.adminSet {
			httpLn.Close()
			admin.Close()
			return errors.New("serve: --systemd: the unit passed a socket named \"admin\"; --admin would be a second admin API")
		}
		gate, adminLn = acceptgate.Wrap(httpLn, opts...), admin
	} else {
		var err error
		if gate, err = acceptgate.Listen(ctx, "tcp", f.addr, opts...); err != nil {
			return err
		}
	}
	defer gate.Close()
	srv := &http.Server{Handler: demoHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "acceptgate: serving http://%s/ (gate \"http\")\n", gate.Addr())

	if f.admin != "" || adminLn != nil {
		stopAdmin, where, err := startAdmin(ctx, f, gate, srv, adminLn, logger)
		if err != nil {
			return err
		}
		defer stopAdmin()
		fmt.Fprintf(stdout, "acceptgate: admin API on %s\n", where)
		ctl := "acceptgate ctl --admin " + where
		if f.tokenFile != "" {
			ctl += " --token-file " + f.tokenFile // the path, never the token
		}
		fmt.Fprintf(stdout, "pause: %s pause http   resume: ... resume http   status: ... status\n", ctl)
	}
	if f.signals {
		if stopSignals, err := control.HandleSignals([]*acceptgate.Listener{gate}, control.WithLogger(logger)); err == nil {
			defer stopSignals()
			fmt.Fprintf(stdout, "or: kill -TTOU %d (pause), kill -TTIN %d (resume); Ctrl-C stops\n", os.Getpid(), os.Getpid())
		}
	}
	logger.Info("acceptgate: how Reject works here", "addr", gate.Addr().String(), "reject", rejectMode(gate.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(gate) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, gate, f.grace, logger, served)
}

// rejectMode says how Reject will refuse clients of a TCP socket at addr on
// this machine, as README's "Reject, without privileges" explains.
func rejectMode(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "unix: the path leads to a socket that refuses while the listener waits, hidden"
	}
	dev, err := sockets.FenceDevice(ta.IP)
	switch {
	case err != nil:
		return "not fenced (" + err.Error() + "): the socket stops once its queue is empty and no handshake is under way; an interface that stays down (ip link add agfence type dummy) gives it a fence"
	case sockets.CanLiftFence():
		return "fenced with " + dev + ", lifted in place"
	}
	return "fenced with " + dev + "; without CAP_NET_RAW to lift it, Resume replaces the socket"
}

// startAdmin serves the admin API for gate, which app serves, on inherited
// if it is not nil, else at f.admin; stop closes it.
func startAdmin(ctx context.Context, f serveFlags, gate *acceptgate.Listener, app *http.Server, inherited net.Listener, logger *slog.Logger) (stop func(), where string, err error) {
	token, err := adminToken(f.tokenFile)
	if err != nil {
		return nil, "", err
	}
	tlsConfig, err := serverTLS(f.adminCert, f.adminKey)
	if err != nil {
		return nil, "", err
	}
	collector := metrics.NewCollector()
	if err := collector.Register("http", gate); err != nil {
		return nil, "", err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)
	// At a drain's deadline, close idle keep-alive connections: a browser
	// would otherwise hold the drain open for as long as it likes.
	drained := func() { app.SetKeepAlivesEnabled(false) }
	h := control.NewHandler(control.WithToken(token), control.WithAllowedHosts(f.adminHosts...), control.WithLogger(logger),
		control.WithHandler("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		control.WithDrainHook(drained))
	if err := h.Register("http", gate); err != nil {
		return nil, "", err
	}
	var ln net.Listener
	if inherited != nil {
		ln, err = inheritedAdmin(inherited, token != "", tlsConfig)
	} else {
		ln, err = control.ListenAdmin(ctx, f.admin, h, tlsConfig)
	}
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	where = ln.Addr().String()
	switch {
	case ln.Addr().Network() != "tcp":
	case tlsConfig != nil:
		where = "https://" + where
	default:
		where = "http://" + where
	}
	return func() {
		srv.Close()
		<-done
	}, where, nil
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
