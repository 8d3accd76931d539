package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/internal/bench"
)

const rejectCostUsage = `Usage: go run ./lab rejectcost [flags]   (root: it makes network namespaces)

Measures what Reject and Resume cost, and what clients see, while the host
holds -others other TCP connections (on loopback, in processes of their
own, in the host's namespace: the kernel's connection table is the host's)
and new clients arrive at -rate. Each way of refusing runs in a network
namespace this command makes, with what it needs there:

  fence               root, an interface kept down (a TUN device): the fence is lifted in place
  fence-unprivileged  an ordinary user, the same interface: fenced, and Resume replaces the socket
  member-migrate      a member of an SO_REUSEPORT group of two, tcp_migrate_req=1
  lo-only             only lo, so no fence: the socket stops once no handshake is under way
  member              a member of an SO_REUSEPORT group of two, tcp_migrate_req=0

The first three are the ways docs/reject.md recommends. With -check it
exits non-zero if one of them had to force a stop or lost a client (one
that connected and was not served). With -private-table it also fails if
any way had to force a stop: a table of the namespace's own makes the
count of handshakes short enough that none should.`

// costMode is a way of refusing and the namespace it runs in.
type costMode struct {
	name        string
	recommended bool
	fence       bool // an interface kept down, to fence with
	nobody      bool // as nobody, with no capabilities
	group       bool // a member of an SO_REUSEPORT group rejects
	migrate     bool // net.ipv4.tcp_migrate_req=1
}

var costModes = []costMode{
	{name: "fence", recommended: true, fence: true},
	{name: "fence-unprivileged", recommended: true, fence: true, nobody: true},
	{name: "member-migrate", recommended: true, group: true, migrate: true, nobody: true},
	{name: "lo-only"},
	{name: "member", group: true, nobody: true},
}

// costRunCommand and costHoldCommand are rejectcost's own processes: the
// measurement in its namespace, and a holder of other connections.
const (
	costRunCommand  = "rejectcost-run"
	costHoldCommand = "rejectcost-hold"
)

func runRejectCost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rejectcost", rejectCostUsage, stderr)
	others := fs.Int("others", 100000, "other TCP connections the host holds meanwhile")
	perProcess := fs.Int("per-process", 9000, "connections each holder process opens (two descriptors each)")
	rate := fs.Int("rate", 2000, "new clients a second")
	cycles := fs.Int("cycles", 1000, "Reject/Resume cycles in each way")
	hold := fs.Duration("hold", 5*time.Millisecond, "time in each state between the calls")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on each way's cycles")
	private := fs.Int("private-table", 0, "give each way's namespace a connection table of its own with this many buckets (tcp_child_ehash_entries); 0 shares the host's")
	only := fs.String("modes", "", "comma-separated ways to run; all if empty")
	check := fs.Bool("check", false, "fail if a recommended way forced a stop or lost a client (with -private-table: if any way forced one)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("rejectcost makes network namespaces: run it as root")
	}
	modes, err := pickModes(*only)
	if err != nil {
		return err
	}
	// Copied where an ordinary user may run it: go run builds into a
	// directory only its owner may enter.
	self, cleanup, err := copySelf()
	if err != nil {
		return err
	}
	defer cleanup()

	held, err := holdOthers(ctx, self, *others, *perProcess, stderr)
	if err != nil {
		return err
	}
	defer held()

	type row struct {
		Mode        string                 `json:"mode"`
		Recommended bool                   `json:"recommended"`
		Result      bench.RejectCostResult `json:"result"`
		Error       string                 `json:"error,omitempty"`
	}
	var rows []row
	var failed []string
	for _, m := range modes {
		fmt.Fprintf(stderr, "rejectcost: %s...\n", m.name)
		res, err := runCostMode(ctx, self, m, *private, *rate, *cycles, *hold, *timeout)
		r := row{Mode: m.name, Recommended: m.recommended, Result: res}
		if err != nil {
			r.Error = err.Error()
		}
		rows = append(rows, r)
		switch {
		case m.recommended && (err != nil || res.Forced > 0 || res.Lost() > 0):
			failed = append(failed, m.name)
		case *private > 0 && res.Forced > 0:
			failed = append(failed, m.name+" (forced with a table of its own)")
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, rows); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "rejectcost: %d other connections on the host, %d new clients a second, %d cycles, %v in each state\n",
			*others, *rate, *cycles, *hold)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "way\tcycles\treject p50\tp99\tmax\tresume p50\tp99\tmax\tforced\tclients\tserved\trefused\treset\twaiting\ttimed out\t")
		for _, r := range rows {
			x := r.Result
			name := r.Mode
			if r.Recommended {
				name += " *"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, x.Cycles,
				us(x.RejectP50), us(x.RejectP99), us(x.RejectMax), us(x.ResumeP50), us(x.ResumeP99), us(x.ResumeMax),
				x.Forced, x.Clients, x.Served, x.Refused, x.Reset, x.Waiting, x.TimedOut)
		}
		tw.Flush()
		fmt.Fprintln(stdout, "* recommended (docs/reject.md). How each refused:")
		for _, r := range rows {
			fmt.Fprintf(stdout, "  %s: %s\n", r.Mode, r.Result.Method)
			if r.Error != "" {
				fmt.Fprintf(stdout, "  %s failed: %s\n", r.Mode, r.Error)
			}
		}
	}
	if *check && len(failed) > 0 {
		return fmt.Errorf("recommended ways forced a stop, lost a client or failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func pickModes(only string) ([]costMode, error) {
	if only == "" {
		return costModes, nil
	}
	var picked []costMode
	for _, name := range strings.Split(only, ",") {
		i := -1
		for j, m := range costModes {
			if m.name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("no way named %q", name)
		}
		picked = append(picked, costModes[i])
	}
	return picked, nil
}

// us prints a duration in microseconds, or milliseconds past ten.
func us(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func copySelf() (path string, cleanup func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "acceptgate-rejectcost-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	b, err := os.ReadFile(exe)
	if err == nil {
		path = filepath.Join(dir, "lab")
		err = os.WriteFile(path, b, 0o755)
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// holdOthers starts the processes that hold n other connections, and
// returns once they all hold theirs. Each ends when its stdin closes, or
// with this process.
func holdOthers(ctx context.Context, self string, n, per int, stderr io.Writer) (release func(), err error) {
	var stops []func()
	release = func() {
		for _, stop := range stops {
			stop()
		}
	}
	for left := n; left > 0; left -= per {
		k := min(left, per)
		cmd := exec.CommandContext(ctx, self, costHoldCommand, "-n", strconv.Itoa(k))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			release()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			release()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			release()
			return nil, err
		}
		stops = append(stops, func() { stdin.Close(); cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "held") {
			release()
			return nil, fmt.Errorf("a holder of %d connections did not start: %q %v", k, line, err)
		}
	}
	if n > 0 {
		fmt.Fprintf(stderr, "rejectcost: %d other connections held by %d processes\n", n, len(stops))
	}
	return release, nil
}

// runHold holds -n connections until stdin closes.
func runHold(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(costHoldCommand, "holds -n loopback connections until stdin closes", stderr)
	n := fs.Int("n", 1000, "connections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	release, err := bench.HoldConnections(ctx, *n)
	if err != nil {
		return err
	}
	defer release()
	fmt.Fprintln(stdout, "held", *n)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// runCostMode runs one way's cycles in a namespace of its own.
func runCostMode(ctx context.Context, self string, m costMode, private, rate, cycles int, hold, timeout time.Duration) (bench.RejectCostResult, error) {
	var res bench.RejectCostResult
	setup := []string{"ip link set lo up"}
	if m.fence {
		setup = append(setup, "ip tuntap add agfence mode tun")
	}
	if m.migrate {
		setup = append(setup, "echo 1 > /proc/sys/net/ipv4/tcp_migrate_req")
	}
	run := `exec "$0" "$@"`
	if m.nobody {
		run = `exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$0" "$@"`
	}
	script := strings.Join(append(setup, run), " && ")
	args := []string{"-n", "sh", "-c", script, self, costRunCommand,
		"-rate", strconv.Itoa(rate), "-cycles", strconv.Itoa(cycles), "-hold", hold.String(), "-timeout", timeout.String()}
	if m.group {
		args = append(args, "-group")
	}
	if private > 0 {
		// A namespace gets a table of its own if the one it is made from
		// says so: an outer namespace, made for the purpose, says so.
		outer := "echo " + strconv.Itoa(private) + ` > /proc/sys/net/ipv4/tcp_child_ehash_entries && exec unshare "$@"`
		args = append([]string{"-n", "sh", "-c", outer, "unshare"}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Dir = os.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return res, fmt.Errorf("%v: %s", errors.Join(err, jerr), strings.TrimSpace(errOut.String()))
	}
	if err != nil {
		return res, fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	return res, nil
}

// runCostRun is one way's cycles, in the namespace runCostMode made.
func runCostRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(costRunCommand, "one way's Reject/Resume cycles", stderr)
	var cfg bench.RejectCostConfig
	fs.IntVar(&cfg.Rate, "rate", 2000, "new clients a second")
	fs.IntVar(&cfg.Cycles, "cycles", 1000, "cycles")
	fs.DurationVar(&cfg.Hold, "hold", 5*time.Millisecond, "time in each state")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "bound on the cycles")
	fs.BoolVar(&cfg.Group, "group", false, "reject a member of an SO_REUSEPORT group of two")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := bench.RejectCost(ctx, cfg)
	// The result is written even on error: the counts tell what happened.
	if werr := writeJSON(stdout, res); werr != nil {
		return werr
	}
	return err
}
