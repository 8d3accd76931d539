package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/internal/bench"
)

const backlogUsage = `Usage: go run ./lab backlog [flags]

Runs a gate on loopback (or -rtt away) with the given backlog through accepting, paused,
rejecting and paused-then-resumed, with clients that connect at once, and
reports what they saw and the accept queue over time.`

func runBacklog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backlog", backlogUsage, stderr)
	var cfg bench.BacklogConfig
	fs.IntVar(&cfg.Backlog, "backlog", 16, "listen backlog `N`")
	fs.IntVar(&cfg.Clients, "clients", 0, "clients per state; 0 means 3 × backlog")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 1500*time.Millisecond, "a client gives up connecting after this")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	plotFile := fs.String("plot", "", "draw the queue over time and the outcomes per state to `FILE` (.svg or .png)")
	wf := addWireFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, closeWire, err := wf.open(stderr)
	if err != nil {
		return err
	}
	defer closeWire()
	cfg.Net = n
	cfg.Progress = func(phase string) { fmt.Fprintf(stderr, "backlog: %s...\n", phase) }
	reports, err := bench.BacklogExperiment(ctx, cfg)
	if err != nil {
		return err
	}
	if *plotFile != "" {
		if err := plotBacklog(reports, *plotFile); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "backlog: plot written to %s\n", *plotFile)
	}
	if *asJSON {
		return writeJSON(stdout, reports)
	}
	return backlogTable(stdout, reports)
}

// backlogTable writes one row per phase: the clients' outcomes, their
// latencies and the longest accept queue sampled.
func backlogTable(w io.Writer, reports []bench.PhaseReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "state\tbacklog\tclients\t")
	for _, o := range bench.Outcomes {
		fmt.Fprintf(tw, "%s\t", strings.ReplaceAll(o, "_", " "))
	}
	fmt.Fprintln(tw, "received\taborted\tconnect p50\tconnect p99\tfirst byte p50\tfirst byte p99\tmax queue\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%d\t", r.Phase, r.Backlog, r.Clients)
		for _, o := range bench.Outcomes {
			fmt.Fprintf(tw, "%d\t", r.Outcomes[o])
		}
		maxQ := 0
		for _, s := range r.Queue {
			maxQ = max(maxQ, s.Len)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t\n", r.Received, r.Aborted, ms(r.ConnectP50), ms(r.ConnectP99), ms(r.FirstP50), ms(r.FirstP99), maxQ)
	}
	return tw.Flush()
}

// ms formats a latency; "-" where no client got that far (a percentile of
// no sample is 0).
func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
