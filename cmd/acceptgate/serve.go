package main

import (
	"cmp"
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
	"github.com/acceptgate/acceptgate/handoff"
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

	upgradeSocket string   // offer the sockets to the next generation here
	takeover      string   // take the sockets from the generation offering here
	args          []string // as given, to start this program again on SIGHUP
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
"admin", if passed, serves the admin API in place of --admin.

Upgrades in place: with --upgrade-socket PATH, serve offers its sockets (the
served one and the admin one) at PATH. "serve --takeover PATH" started
beside it takes them, serves on the same addresses with nobody refused or
reset, and offers them at PATH in turn; the old instance finishes its
requests within --grace and exits 0. SIGHUP makes serve start its own
binary again that way. A new instance that fails before it serves changes
nothing: the old one serves on.`

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
	fs.StringVar(&f.upgradeSocket, "upgrade-socket", "", "unix socket `path` to offer the sockets at, for the next instance's --takeover (and SIGHUP)")
	fs.StringVar(&f.takeover, "takeover", "", "take the sockets from the instance offering them at unix socket `path`, then offer them there (unless --upgrade-socket says elsewhere)")
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
	if err := upgradeConflicts(fs, &f); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	f.args = args
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
	var taken *handoff.Takeover
	if f.takeover != "" {
		var err error
		if taken, gate, adminLn, err = takeOver(ctx, f.takeover, opts); err != nil {
			return fmt.Errorf("serve: --takeover: %w", err)
		}
		logger.Info("acceptgate: took the sockets over", "from_pid", taken.PID(), "offer", f.takeover)
	} else if f.systemd {
		httpLn, admin, err := systemdSockets()
		if err != nil {
			return fmt.Errorf("serve: --systemd: %w", err)
		}
		if admin != nil && f.adminSet {
			httpLn.Close()
			admin.Close()
			return errors.New("serve: --systemd: the unit passed a socket named \"admin\"; --admin would be a second admin API")
		}
		gate = acceptgate.Wrap(httpLn, opts...)
		if admin != nil {
			adminLn = acceptgate.Wrap(admin, adminGateOptions...)
		}
	} else {
		var err error
		if gate, err = acceptgate.Listen(ctx, "tcp", f.addr, opts...); err != nil {
			return err
		}
	}
	defer gate.Close()
	srv := &http.Server{Handler: demoHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "acceptgate: serving http://%s/ (gate \"http\")\n", gate.Addr())

	var adminGate *acceptgate.Listener
	if f.admin != "" || adminLn != nil {
		stopAdmin, where, ag, err := startAdmin(ctx, f, gate, srv, adminLn, logger)
		if err != nil {
			if taken != nil {
				taken.Abort()
			}
			return err
		}
		adminGate = ag
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
	if taken != nil {
		if err := taken.Commit(ctx); err != nil && gate.State() == acceptgate.Closed {
			// Before the old instance's go, the sockets went back to it.
			srv.Close()
			<-served
			return fmt.Errorf("serve: --takeover: %w", err)
		} else if err != nil {
			// After its go: the old instance may have let go and died
			// before it said so, and then only this one serves.
			logger.Warn("acceptgate: serving; the old instance did not confirm it let go", "old_pid", taken.PID(), "err", err)
		} else {
			logger.Info("acceptgate: serving; the old instance lets go", "old_pid", taken.PID())
		}
	}
	handed := make(chan error, 1)
	if f.upgradeSocket != "" {
		stopOffer, err := offerUpgrades(ctx, f, gate, adminGate, logger, handed)
		switch {
		case err == nil:
			defer stopOffer()
			fmt.Fprintf(stdout, "upgrade: acceptgate serve --takeover %s (or kill -HUP %d)\n", f.upgradeSocket, os.Getpid())
		case taken != nil:
			// The sockets are this instance's alone now: serving them
			// matters more than the next upgrade.
			logger.Error("acceptgate: serving, but cannot offer the sockets for the next upgrade", "err", err)
		default:
			srv.Close()
			<-served
			return err
		}
	}
	select {
	case err := <-served:
		if f.upgradeSocket == "" || !errors.Is(err, net.ErrClosed) {
			return err
		}
		// The gate closed under Serve: it was handed over, and the offer
		// is about to say so.
		select {
		case herr := <-handed:
			if herr != nil {
				return herr
			}
		case <-ctx.Done():
		}
		again := make(chan error, 1)
		again <- err
		logger.Info("acceptgate: handed the sockets over; finishing requests", "grace", f.grace.String())
		return finish(srv, gate, f.grace, again)
	case <-ctx.Done():
	case err := <-handed:
		if err != nil {
			logger.Error("acceptgate: offering the sockets", "err", err)
			return shutdown(srv, gate, f.grace, logger, served)
		}
		// The sockets belong to the new instance: no Reject, which would
		// refuse its clients; finish the requests here and leave.
		logger.Info("acceptgate: handed the sockets over; finishing requests", "grace", f.grace.String())
		return finish(srv, gate, f.grace, served)
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

// adminGateOptions bound an admin socket serve did not open itself (one
// systemd passed or one taken over) as control.ListenAdmin bounds the ones
// it opens: connections beyond the limit wait in the kernel's queue instead
// of taking the descriptors the served port needs. The limit is the
// Handler's default too, so that control.NewServer's server, which closes
// the connection silent longest while that many are open, makes room on
// these sockets as on ListenAdmin's.
var adminGateOptions = []acceptgate.Option{acceptgate.WithMaxConns(control.DefaultMaxConns)}

// startAdmin serves the admin API for gate, which app serves, on inherited
// if it is not nil, else at f.admin; stop closes it.
//
// With upgrades on, the admin socket is served through a gate, returned so
// that it can be handed over with the served one.
func startAdmin(ctx context.Context, f serveFlags, gate *acceptgate.Listener, app *http.Server, inherited net.Listener, logger *slog.Logger) (stop func(), where string, adminGate *acceptgate.Listener, err error) {
	token, err := adminToken(f.tokenFile)
	if err != nil {
		return nil, "", nil, err
	}
	tlsConfig, err := serverTLS(f.adminCert, f.adminKey)
	if err != nil {
		return nil, "", nil, err
	}
	collector := metrics.NewCollector()
	if err := collector.Register("http", gate); err != nil {
		return nil, "", nil, err
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
		return nil, "", nil, err
	}
	var ln net.Listener
	var reserved io.Closer // the other loopback family, for an inherited socket
	if inherited != nil {
		ln, err = inheritedAdmin(inherited, token != "", tlsConfig)
		if err == nil {
			// As ListenAdmin does for its own socket: nobody else may listen
			// where a browser opening localhost goes first. Before a
			// takeover commits, a failure here leaves the old instance
			// serving.
			if reserved, err = control.ReserveLocalhost(ln.Addr()); err != nil {
				ln.Close()
			}
		}
	} else {
		ln, err = control.ListenAdmin(ctx, f.admin, h, tlsConfig)
	}
	if err != nil {
		return nil, "", nil, err
	}
	if f.upgradeSocket != "" {
		if g, ok := ln.(*acceptgate.Listener); ok {
			adminGate = g // taken over
		} else {
			adminGate = acceptgate.Wrap(ln)
		}
		ln = adminGate
	}
	srv := control.NewServer(h) // timeouts, and net/http's own errors rate-limited
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
		if reserved != nil {
			reserved.Close()
		}
	}, where, adminGate, nil
}

// shutdown refuses new clients, lets requests in flight finish and closes
// idle keep-alive connections, all within grace, so that an idle browser
// connection never holds the process up.
func shutdown(srv *http.Server, gate *acceptgate.Listener, grace time.Duration, logger *slog.Logger, served <-chan error) error {
	logger.Info("acceptgate: shutting down", "grace", grace.String())
	if err := gate.Reject(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		logger.Warn("acceptgate: reject before shutdown", "err", err)
	}
	return finish(srv, gate, grace, served)
}

// finish answers the requests on every connection the server was handed,
// within grace, then closes what is left. The gate must take no new client
// any more (rejecting, or handed over to a new instance).
//
// http.Server.Shutdown alone would lose clients: a connection accepted just
// before it, whose request the server reads only after it began, is closed
// unanswered (net/http's conn.serve checks shuttingDown after each read).
// So keep-alives go off first, which closes idle connections and has every
// other one closed after its answer; the gate's Shutdown waits for those;
// the server's Shutdown then finds nothing left.
func finish(srv *http.Server, gate *acceptgate.Listener, grace time.Duration, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.SetKeepAlivesEnabled(false)
	err := gate.Shutdown(ctx) // closes the rest at the deadline, hijacked ones too
	serr := srv.Shutdown(ctx)
	if errors.Is(serr, net.ErrClosed) {
		serr = nil // the gate, closed already, says so when Shutdown closes it
	}
	if serr != nil {
		srv.Close()
		err = cmp.Or(err, serr)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) {
		err = cmp.Or(err, serr)
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
