//go:build unix

package upgrade

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary started again with modeEnv set is a generation of a
// server (see child): the next generation of a test's Upgrader, or a
// first generation the test starts itself.
const (
	modeEnv    = "ACCEPTGATE_UPGRADE_TEST_MODE"
	addrEnv    = "ACCEPTGATE_UPGRADE_TEST_ADDR"    // what serve listens on
	reportEnv  = "ACCEPTGATE_UPGRADE_TEST_REPORT"  // file each generation appends lines to
	pidFileEnv = "ACCEPTGATE_UPGRADE_TEST_PIDFILE" // Options.PIDFile
	markerEnv  = "ACCEPTGATE_UPGRADE_TEST_MARKER"  // a file whose descriptor must not be inherited
	setPIDEnv  = "ACCEPTGATE_UPGRADE_TEST_SET_LISTEN_PID"
	offerEnv   = "ACCEPTGATE_UPGRADE_TEST_OFFER" // Options.OfferPath
	namedEnv   = "ACCEPTGATE_UPGRADE_TEST_NAMED" // a name serve asks ListenNamed for, with no address
	adminEnv   = "ACCEPTGATE_UPGRADE_TEST_ADMIN" // an address serve asks ListenNamed("admin") for, before Listen
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(modeEnv); mode != "" {
		os.Exit(child(mode))
	}
	goleak.VerifyTestMain(m)
}

// child is one generation. Modes:
//   - exit: exits 3 before New.
//   - hang: sleeps before New (a next generation that never takes over).
//   - hold: New, then sleeps (one that takes the sockets and never commits).
//   - refuse: New, then Stop (it gives the sockets back).
//   - crash: New, then exits 4 (it dies holding the sockets, before Ready).
//   - serve: a whole server, as examples/upgrade: answers pid=<pid>,
//     upgrades on SIGHUP, stops on SIGTERM, reports what it does.
func child(mode string) int {
	switch mode {
	case "exit":
		return 3
	case "hang":
		time.Sleep(time.Minute)
		return 0
	}
	if os.Getenv(setPIDEnv) == "1" && os.Getenv("LISTEN_FDS") != "" {
		// systemd sets LISTEN_PID between fork and exec; exec.Cmd has no
		// such moment, so the child stands in for that step (for the
		// process systemd passed sockets to, not its next generations).
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	u, err := New(Options{PIDFile: os.Getenv(pidFileEnv), OfferPath: os.Getenv(offerEnv), UpgradeTimeout: 10 * time.Second})
	if err != nil {
		report("new: %v", err)
		return 1
	}
	switch mode {
	case "hold":
		time.Sleep(time.Minute)
		return 0
	case "refuse":
		u.Stop()
		return 0
	case "crash":
		return 4
	}
	if addr := os.Getenv(adminEnv); addr != "" {
		if ag, err := u.ListenNamed(context.Background(), "admin", "tcp", addr); err != nil {
			report("admin: %v", err)
		} else {
			report("admin=%s", ag.Addr())
		}
	}
	g, err := u.Listen(context.Background(), "tcp", os.Getenv(addrEnv))
	if err != nil {
		report("listen: %v", err)
		return 1
	}
	if name := os.Getenv(namedEnv); name != "" {
		if ng, err := u.ListenNamed(context.Background(), name, "", ""); err != nil {
			report("named %s: %v", name, err)
		} else {
			report("named %s=%s", name, ng.Addr())
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d\n", os.Getpid())
	})}
	go srv.Serve(g)
	if err := u.Ready(); err != nil {
		report("ready: %v", err)
		return 1
	}
	report("ready pid=%d addr=%s leaked=%t stale=%s", os.Getpid(), g.Addr(), inherited(os.Getenv(markerEnv)), staleEnv())
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGTERM {
				u.Stop()
				return
			}
			go func() {
				err := u.Upgrade()
				report("upgrade pid=%d: %v", os.Getpid(), err)
			}()
		}
	}()
	<-u.Exit()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.SetKeepAlivesEnabled(false)
	g.Shutdown(ctx)
	srv.Shutdown(ctx)
	return 0
}

// report appends a line to the report file.
func report(format string, args ...any) {
	f, err := os.OpenFile(os.Getenv(reportEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// inherited reports whether one of this process's descriptors is the
// file at path.
func inherited(path string) bool {
	if path == "" {
		return false
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasSuffix(target, path) {
			return true
		}
	}
	return false
}

// staleEnv lists, comma-separated, the variables meant for another process
// that this one's children would inherit: systemd's for the first
// generation, and the exchange's descriptor for this one.
func staleEnv() string {
	var stale []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "ACCEPTGATE_UPGRADE_FD", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			stale = append(stale, name)
		}
	}
	return "[" + strings.Join(stale, ",") + "]"
}
