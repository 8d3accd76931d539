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
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
	"github.com/acceptgate/acceptgate/httpgate"
	"github.com/acceptgate/acceptgate/listener"
	"github.com/acceptgate/acceptgate/metrics"
	"github.com/acceptgate/acceptgate/upgrade"
)

type serveFlags struct {
	addr       string
	admin      string
	tokenFile  string
	adminCert  string
	adminKey   string
	adminHosts []string
	agent      string // HAProxy's agent check: address to answer it on
	backlog    int
	reusePort  bool
	maxConns   int
	skip       bool
	grace      time.Duration
	signals    bool
	systemd    bool
	hostStats  bool // --host-counters
	adminSet   bool // --admin was given, not defaulted
	listenFDs  bool // LISTEN_FDS was set: systemd passed sockets

	upgradeSocket string // offer the sockets to the next generation here
	takeover      string // take the sockets from the generation offering here
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
named "http" (FileDescriptorName=http), or a single unnamed one (as
systemd-socket-activate -l ADDR passes it), serves the demo, and one named
"admin", if passed, serves the admin API in place of --admin.

Upgrades in place: SIGHUP starts serve's own binary again with the same
flags; it takes the sockets over (the served one and the admin one), serves
on the same addresses with nobody refused or reset, and the old instance
finishes its requests within --grace and exits 0. A second SIGHUP while an
upgrade is under way is refused. With --upgrade-socket PATH, serve also
offers its sockets at PATH to "serve --takeover PATH" started beside it,
which offers them there in turn. A new instance that fails before it
serves changes nothing: the old one serves on. With NOTIFY_SOCKET set,
serve tells systemd READY=1, RELOADING=1 and MAINPID= around an upgrade,
and STOPPING=1.

With --agent ADDR, serve answers HAProxy's agent check there (agent-check
agent-port N on the server line): "drain" once a drain was asked for or
while the gate pauses, "maint" while it rejects, else "ready", so that a
ctl pause, reject or drain takes effect in HAProxy at its next agent check.
The agent's socket is handed over with the others.`

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
	fs.StringVar(&f.agent, "agent", "", "`address` to answer HAProxy's agent check on (agent-check agent-port): ready, drain or maint from the gate and a drain; needs the admin API")
	fs.IntVar(&f.backlog, "backlog", 0, "accept queue length `N`; 0 means the system maximum")
	fs.BoolVar(&f.reusePort, "reuseport", false, "set SO_REUSEPORT, so another process can share the port")
	fs.IntVar(&f.maxConns, "max-conns", 0, "at most `N` connections open at once; 0 means no limit")
	fs.BoolVar(&f.skip, "skip-aborted", false, "close, without serving, a client that gave up while it waited (closed before sending anything, or reset); Linux only")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "how long a shutdown waits for requests in flight")
	fs.BoolVar(&f.hostStats, "host-counters", false, "add the kernel's TcpExt ListenOverflows and ListenDrops to /metrics (Linux); they count the whole network namespace, not this process, so turn them on in one process per namespace")
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
	fs.Visit(func(fl *flag.Flag) { f.adminSet = f.adminSet || fl.Name == "admin" })
	f.listenFDs = os.Getenv("LISTEN_FDS") != ""
	if f.systemd && f.adminSet && systemdNamed("admin") {
		return errors.New("serve: --systemd: the unit passed a socket named \"admin\"; --admin would be a second admin API")
	}
	return serve(ctx, f, stdout, slog.New(slog.NewTextHandler(stderr, nil)))
}

func serve(ctx context.Context, f serveFlags, stdout io.Writer, logger *slog.Logger) error {
	opts := []acceptgate.Option{acceptgate.WithMaxConns(f.maxConns), acceptgate.WithLogger(logger), acceptgate.WithBacklog(f.backlog)}
	if f.reusePort {
		opts = append(opts, acceptgate.WithReusePort())
	}
	if f.skip {
		opts = append(opts, acceptgate.WithSkipAborted())
	}
	// Caught before Ready: a supervisor that signals as soon as serve says
	// it serves must never meet SIGHUP's default action, which ends it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	upg, err := upgrade.New(upgrade.Options{OfferPath: f.upgradeSocket, TakeoverPath: f.takeover,
		GateOptions: opts, NamedGateOptions: map[string][]acceptgate.Option{"admin": adminGateOptions},
		Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: %s%w", flagContext(f), err)
	}
	defer upg.Stop() // before Ready: a takeover is aborted, the old instance serves on
	gate, err := listenServed(ctx, upg, f)
	if err != nil {
		return err
	}
	defer gate.Close()
	srv := &http.Server{Handler: demoHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "acceptgate: serving http://%s/ (gate \"http\")\n", gate.Addr())

	stopAdmin, where, agentAt, handable, err := startAdmin(ctx, f, upg, gate, srv, logger)
	if err != nil {
		return err
	}
	if stopAdmin != nil {
		defer stopAdmin()
		if agentAt != "" {
			fmt.Fprintf(stdout, "acceptgate: agent check on %s\n", agentAt)
		}
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
	logger.Info("acceptgate: how Reject works here", "addr", gate.Addr().String(), "reject", gate.RejectMethod())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(gate) }()
	if err := upg.Ready(); err != nil {
		srv.Close()
		<-served
		return fmt.Errorf("serve: %s%w", flagContext(f), err)
	}
	if f.upgradeSocket != "" {
		fmt.Fprintf(stdout, "upgrade: acceptgate serve --takeover %s (or kill -HUP %d)\n", f.upgradeSocket, os.Getpid())
	} else {
		fmt.Fprintf(stdout, "upgrade: kill -HUP %d\n", os.Getpid())
	}
	go upgradeOnSIGHUP(upg, hup, handable, logger)
	select {
	case <-upg.Exit():
		handedOver(logger, f.grace)
	case err := <-served:
		served <- err // for finish
		if !errors.Is(err, net.ErrClosed) {
			logger.Error("acceptgate: serving ended", "err", err)
			upg.Stop()
			break
		}
		// The gate closed under Serve: the sockets were handed over, and
		// the Upgrader is about to say so. Stop now would tell systemd
		// STOPPING=1 for the service the next generation serves on.
		select {
		case <-upg.Exit():
			handedOver(logger, f.grace)
		case <-ctx.Done():
			upg.Stop()
		}
	case <-ctx.Done():
		upg.Stop()
		logger.Info("acceptgate: shutting down", "grace", f.grace.String())
	}
	return finish(srv, gate, f.grace, logger, served)
}

// handedOver says that the next generation serves the sockets: their
// gates are closed here, and the shutdown finishes the requests they
// admitted.
func handedOver(logger *slog.Logger, grace time.Duration) {
	logger.Info("acceptgate: handed the sockets over; finishing requests", "grace", grace.String())
}

// flagContext names the flag an Upgrader's error comes from, if one.
func flagContext(f serveFlags) string {
	switch {
	case f.takeover != "":
		return "--takeover: "
	case f.systemd:
		return "--systemd: "
	}
	return ""
}

// listenServed returns the gate "http" serves: the one taken over, or
// with --systemd the one the unit passed, else one on --addr.
func listenServed(ctx context.Context, upg *upgrade.Upgrader, f serveFlags) (*acceptgate.Listener, error) {
	if f.takeover == "" && !f.systemd {
		return upg.ListenNamed(ctx, "http", "tcp", f.addr)
	}
	// Made nowhere: taken over (from --takeover, or from the generation
	// SIGHUP started this one from), or passed by systemd.
	gate, err := upg.ListenNamed(ctx, "http", "", "")
	switch {
	case err == nil:
		return gate, nil
	case f.takeover != "":
		return nil, fmt.Errorf(`serve: --takeover: the instance offered no socket named "http": %w`, err)
	case !f.listenFDs:
		return nil, errors.New("serve: --systemd: no sockets passed (LISTEN_FDS is not set)")
	}
	return nil, fmt.Errorf("serve: --systemd: %w (name it with FileDescriptorName=http)", err)
}

// upgradeOnSIGHUP starts the next generation on every SIGHUP (unless
// !handable: then it says why not); one that comes while an upgrade is
// under way is refused, and said so.
func upgradeOnSIGHUP(upg *upgrade.Upgrader, hup <-chan os.Signal, handable bool, logger *slog.Logger) {
	for {
		select {
		case <-upg.Exit():
			return
		case <-hup:
		}
		if !handable {
			logger.Warn("acceptgate: SIGHUP: refused, a TLS admin listener cannot be handed over; serving on")
			continue
		}
		go func() {
			err := upg.Upgrade()
			switch {
			case err == nil:
			case errors.Is(err, upgrade.ErrInProgress):
				logger.Warn("acceptgate: SIGHUP: refused, an upgrade is under way", "err", err)
			case errors.Is(err, upgrade.ErrStopped):
			default:
				logger.Error("acceptgate: SIGHUP: the upgrade failed; serving on", "err", err)
			}
		}()
	}
}

// adminGateOptions bound an admin socket serve did not open itself (one
// systemd passed or one taken over) as control.ListenAdmin bounds the ones
// it opens: connections beyond the limit wait in the kernel's queue instead
// of taking the descriptors the served port needs. The limit is the
// Handler's default too, so that control.NewServer's server, which closes
// the connection silent longest while that many are open, makes room on
// these sockets as on ListenAdmin's.
var adminGateOptions = []acceptgate.Option{acceptgate.WithMaxConns(control.DefaultMaxConns)}

// startAdmin serves the admin API for gate, which app serves: on the admin
// socket taken over or passed by systemd, if there is one, else at
// f.admin, unless that is empty (then stop is nil); stop closes it. A
// socket it makes is handed over with the served one, unless it serves
// TLS, which has no gate to hand over: handable is then false, and a next
// generation could only fail to listen where this one still does. With
// --agent (or an agent socket taken over), it answers HAProxy's agent
// check too, at agentAt, from the same Handler.
func startAdmin(ctx context.Context, f serveFlags, upg *upgrade.Upgrader, gate *acceptgate.Listener, app *http.Server, logger *slog.Logger) (stop func(), where, agentAt string, handable bool, err error) {
	stop, where, h, handable, err := startAdminAPI(ctx, f, upg, gate, app, logger)
	if err != nil {
		return nil, "", "", false, err
	}
	agent, err := upg.ListenNamed(ctx, "agent", "", "")
	switch {
	case err == nil:
		if h == nil {
			agent.Close()
			agent, err = nil, errors.New("serve: took an agent socket over without an admin API to answer from")
		}
	case !errors.Is(err, listener.ErrNoSocket):
	case f.agent == "":
		err = nil
	case h == nil:
		err = errors.New("serve: --agent needs the admin API (--admin): the agent answers from its gates and drain")
	default:
		agent, err = upg.ListenNamed(ctx, "agent", "tcp", f.agent)
	}
	if err != nil {
		if stop != nil {
			stop()
		}
		return nil, "", "", false, err
	}
	if agent == nil {
		return stop, where, "", handable, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeAgent(agent)
	}()
	stopAPI := stop
	return func() {
		agent.Close()
		<-done
		if stopAPI != nil {
			stopAPI()
		}
	}, where, agent.Addr().String(), handable, nil
}

// startAdminAPI is startAdmin's admin API; h is nil when there is none.
func startAdminAPI(ctx context.Context, f serveFlags, upg *upgrade.Upgrader, gate *acceptgate.Listener, app *http.Server, logger *slog.Logger) (stop func(), where string, h *control.Handler, handable bool, err error) {
	inherited, err := upg.ListenNamed(ctx, "admin", "", "")
	switch {
	case err == nil:
	case !errors.Is(err, listener.ErrNoSocket):
		return nil, "", nil, false, err
	case f.admin == "":
		return nil, "", nil, true, nil
	}
	token, err := adminToken(f.tokenFile)
	if err != nil {
		return nil, "", nil, false, err
	}
	tlsConfig, err := serverTLS(f.adminCert, f.adminKey)
	if err != nil {
		return nil, "", nil, false, err
	}
	var metricsOpts []metrics.Option
	if f.hostStats {
		metricsOpts = append(metricsOpts, metrics.WithHostCounters())
	}
	collector := metrics.NewCollector(metricsOpts...)
	if err := collector.Register("http", gate); err != nil {
		return nil, "", nil, false, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)
	// At a drain's deadline, close idle keep-alive connections: a browser
	// would otherwise hold the drain open for as long as it likes.
	drained := func() { app.SetKeepAlivesEnabled(false) }
	h = control.NewHandler(control.WithToken(token), control.WithAllowedHosts(f.adminHosts...), control.WithLogger(logger),
		control.WithHandler("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		control.WithDrainHook(drained))
	if err := h.Register("http", gate); err != nil {
		return nil, "", nil, false, err
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
	} else if ln, err = control.ListenAdmin(ctx, f.admin, h, tlsConfig); err == nil && tlsConfig == nil {
		// Its own checks made it (private, bounded, the other loopback
		// reserved); the next generation takes it as an inherited one.
		var g *acceptgate.Listener
		if g, err = upg.Adopt("admin", ln); err != nil {
			ln.Close()
		}
		ln = g
	}
	if err != nil {
		return nil, "", nil, false, err
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
	}, where, h, inherited != nil || tlsConfig == nil, nil
}

// finish shuts srv and gate down with the library's sequence, which answers
// every client the server accepted, refuses the rest and closes idle
// keep-alive connections at once (see httpgate.Shutdown), whether the gate
// still serves or was handed to a new instance. Connections still open when
// grace ends are closed: the shutdown is then complete, and logged, not
// failed.
func finish(srv *http.Server, gate *acceptgate.Listener, grace time.Duration, logger *slog.Logger, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := httpgate.Shutdown(ctx, srv, gate)
	var forced *acceptgate.ForcedCloseError
	if errors.As(err, &forced) {
		logger.Warn("acceptgate: closed the connections left at the end of the grace", "conns", forced.Conns, "grace", grace.String())
		err = nil
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
