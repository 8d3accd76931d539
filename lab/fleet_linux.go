package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/internal/fleet"
)

const fleetUsage = `Usage: go run ./lab fleet [flags]

Three acceptgate serve instances on loopback behind a real load balancer
(HAProxy, health-checking each one's /readyz, or nginx, which checks
passively only), started with a generated configuration and stopped by
PID, under client loops through the balancer, half with a new connection
for every request, half kept alive. Over -duration, every instance is
upgraded in place (SIGHUP) -upgrades times and drained (ctl drain
--grace) and restarted on the same ports -drains times, one step after
the other; then, with -pause or -reject, the second one pauses or rejects
for that long. Prints what the clients saw: requests, failures by kind,
5xx, the time each server spent out of the pool, and latency during the
steps and outside them. Exits non-zero if a request failed.`

func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fleet", fleetUsage, stderr)
	e := fleet.Experiment{}
	fs.StringVar(&e.Balancer, "lb", fleet.HAProxyLB, "the balancer: haproxy or nginx")
	fs.StringVar(&e.BalancerBin, "lb-bin", "", "the balancer's binary; by default, found in $PATH")
	fs.StringVar(&e.Serve, "serve", "", "the acceptgate binary; by default, built from this checkout into a temporary directory")
	fs.DurationVar(&e.Duration, "duration", 20*time.Second, "how long the load lasts; the steps are spread over it")
	fs.IntVar(&e.Clients, "clients", 16, "client loops: half with a new connection for every request, half kept alive")
	fs.IntVar(&e.Upgrades, "upgrades", 2, "upgrades in place of each instance")
	fs.IntVar(&e.Drains, "drains", 1, "drains and restarts of each instance")
	fs.DurationVar(&e.Grace, "grace", time.Second, "each drain's --grace; behind HAProxy, longer than its fall x inter (300ms)")
	fs.DurationVar(&e.Pause, "pause", 0, "after the rolling steps, pause the second instance this long (0: no pause)")
	fs.DurationVar(&e.Reject, "reject", 0, "then have it reject this long (0: no reject)")
	fs.IntVar(&e.NginxMaxFails, "nginx-max-fails", 0, "behind nginx, each server's max_fails (nginx's default: 1)")
	fs.StringVar(&e.NginxFailTimeout, "nginx-fail-timeout", "", "behind nginx, each server's fail_timeout (nginx's default: 10s)")
	showConfig := fs.Bool("show-config", false, "print the balancer's configuration that ran")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if e.Clients < 2 || e.Upgrades < 0 || e.Drains < 0 || e.Duration <= 0 {
		return errors.New("fleet: -clients must be 2 or more, -duration positive, -upgrades and -drains not negative")
	}
	dir, err := os.MkdirTemp("", "lab-fleet")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if e.Serve == "" {
		fmt.Fprintln(stderr, "fleet: building cmd/acceptgate")
		if e.Serve, err = fleet.BuildServe(ctx, dir); err != nil {
			return err
		}
	}
	e.Dir = dir
	e.Log = func(format string, args ...any) { fmt.Fprintf(stderr, "fleet: "+format+"\n", args...) }
	res, err := e.Run(ctx)
	if res.Elapsed == 0 {
		return err // nothing ran
	}
	printFleet(stdout, res, balancerVersion(e))
	if *showConfig {
		fmt.Fprintf(stdout, "\n%s's configuration:\n\n%s", e.Balancer, res.Config)
	}
	if err != nil {
		return err
	}
	if n := res.Failures(); n > 0 {
		return fmt.Errorf("fleet: %d requests failed (first of each kind: %v)", n, res.First)
	}
	return nil
}

// balancerVersion is the first line of what the balancer says its version
// is, or "".
func balancerVersion(e fleet.Experiment) string {
	bin := e.BalancerBin
	if bin == "" {
		bin = e.Balancer
	}
	if e.Balancer == fleet.NginxLB && !strings.Contains(bin, "/") {
		if p, err := fleet.NginxPath(); err == nil {
			bin = p
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// HAProxy says it on stdout, nginx on stderr.
	out, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func printFleet(w io.Writer, res fleet.Result, version string) {
	fmt.Fprintf(w, "fleet: 3 servers behind %s, %d clients (%d with a new connection for every request, %d kept alive), %v\n",
		res.Balancer, res.Clients, (res.Clients+1)/2, res.Clients/2, res.Elapsed.Round(time.Millisecond))
	if version != "" {
		fmt.Fprintf(w, "  %s\n", version)
	}
	count := map[string]int{}
	for _, s := range res.Steps {
		count[s.Kind]++
	}
	fmt.Fprintf(w, "  steps: %d upgrades in place, %d drains and restarts (--grace %v)", count[fleet.StepUpgrade], count[fleet.StepDrain], res.Grace)
	if res.Pause > 0 {
		fmt.Fprintf(w, ", a pause of %v", res.Pause)
	}
	if res.Reject > 0 {
		fmt.Fprintf(w, ", a reject of %v", res.Reject)
	}
	fmt.Fprintln(w)

	other := 0
	for kind, n := range res.Failed {
		switch {
		case kind == fleet.Refused, kind == fleet.Reset, kind == fleet.Timeout:
		case strings.HasPrefix(kind, "status 5"):
		default:
			other += n
		}
	}
	requests := res.Served + int64(res.Failures())
	ratio := "-"
	if res.Outside.P99 > 0 && res.During.N > 0 {
		ratio = fmt.Sprintf("%.2fx", float64(res.During.P99)/float64(res.Outside.P99))
	}
	said := ""
	if res.BalancerSaid5xx >= 0 {
		said = fmt.Sprintf(" (%s: %d)", res.Balancer, res.BalancerSaid5xx)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| requests | per second | refused | reset | timeout | other | 5xx | p99 outside the steps | p99 during them | during / outside |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(w, "| %d | %.0f | %d | %d | %d | %d | %d%s | %s | %s | %s |\n", requests, float64(requests)/res.Elapsed.Seconds(),
		res.Failed[fleet.Refused], res.Failed[fleet.Reset], res.Failed[fleet.Timeout], other, res.Status5xx(), said,
		ms(res.Outside.P99), ms(res.During.P99), ratio)

	fmt.Fprintln(w)
	if res.Balancer == fleet.HAProxyLB {
		fmt.Fprintln(w, "| server | out of the pool (HAProxy's status polled every 10ms) | times |")
		fmt.Fprintln(w, "| --- | ---: | ---: |")
		for _, s := range []string{"s1", "s2", "s3"} {
			fmt.Fprintf(w, "| %s | %s | %d |\n", s, res.Pool.Out[s].Round(time.Millisecond), res.Pool.Times[s])
		}
	} else {
		fmt.Fprintln(w, "| server | times nginx took it out (its error log: upstream server temporarily disabled) |")
		fmt.Fprintln(w, "| --- | ---: |")
		for _, s := range []string{"s1", "s2", "s3"} {
			fmt.Fprintf(w, "| %s | %d |\n", s, res.Pool.Times[s])
		}
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| step\t| count\t| each took\t| requests answered meanwhile\t| p50\t| p99\t| slowest\t| over 100 ms\t| p99 new conn / kept alive\t| slowest new conn / kept alive\t|")
	fmt.Fprintln(tw, "| ---\t| ---:\t| ---\t| ---:\t| ---:\t| ---:\t| ---:\t| ---:\t| ---:\t| ---:\t|")
	split := func(step string) string {
		c := res.ByClient[step]
		return fmt.Sprintf("%s / %s\t| %s / %s", ms(c[0].P99), ms(c[1].P99), ms(c[0].Max), ms(c[1].Max))
	}
	for _, kind := range []string{fleet.StepUpgrade, fleet.StepDrain, fleet.StepPause, fleet.StepReject} {
		if count[kind] == 0 {
			continue
		}
		var took []time.Duration
		for _, s := range res.Steps {
			if s.Kind == kind {
				took = append(took, s.Took)
			}
		}
		q := res.Figures.Steps[kind]
		fmt.Fprintf(tw, "| %s\t| %d\t| %s to %s\t| %d\t| %s\t| %s\t| %s\t| %d\t| %s\t|\n", kind, count[kind],
			slices.Min(took).Round(time.Millisecond), slices.Max(took).Round(time.Millisecond), q.N, ms(q.P50), ms(q.P99), ms(q.Max), q.Slow, split(kind))
	}
	fmt.Fprintf(tw, "| outside the steps\t| \t| \t| %d\t| %s\t| %s\t| %s\t| %d\t| %s\t|\n", res.Outside.N, ms(res.Outside.P50), ms(res.Outside.P99), ms(res.Outside.Max), res.Outside.Slow, split(""))
	tw.Flush()
	if len(res.First) > 0 {
		fmt.Fprintln(w, "\nfirst failure of each kind:")
		for kind, msg := range res.First {
			fmt.Fprintf(w, "  %s (%d): %s\n", kind, res.Failed[kind], msg)
		}
	}
}
