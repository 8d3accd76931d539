package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/acceptgate/acceptgate/internal/bench"
)

const soakUsage = `Usage: go run ./lab soak [flags]

Serves HTTP behind a gate on loopback (or -rtt away) under a loop of
clients while the gate flips between accepting, paused and rejecting;
prints progress every 5s and a summary. Exits non-zero if a client was reset outside a Reject
call.`

func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("soak", soakUsage, stderr)
	var cfg bench.SoakConfig
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to run")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent client loops on loopback")
	fs.DurationVar(&cfg.FlipEvery, "flip-every", 250*time.Millisecond, "mean time between state changes")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the state changes; 0 picks one")
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
	cfg.Progress = func(s bench.SoakStats) {
		fmt.Fprintf(stderr, "soak %s: %d requests, %d served, %d refused, %d reset (+%d in a Reject call), %d timed out\n",
			s.Elapsed.Round(time.Second), s.Requests, s.Served, s.Refused, s.Reset, s.ResetInReject, s.TimedOut)
	}
	// The summary is printed even when Soak fails (a reset outside Reject,
	// a failed transition): the counts are what tells what went wrong.
	st, err := bench.Soak(ctx, cfg)
	fmt.Fprintf(stdout, "soak: seed %d, %s\n", st.Seed, st.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  requests %d: served %d, refused while rejecting %d, reset %d, reset during a Reject call %d, timed out %d\n",
		st.Requests, st.Served, st.Refused, st.Reset, st.ResetInReject, st.TimedOut)
	fmt.Fprintf(stdout, "  served: connect p50 %s, p99 %s; first byte p50 %s, p99 %s\n", ms(st.ConnectP50), ms(st.ConnectP99), ms(st.FirstP50), ms(st.FirstP99))
	fmt.Fprintf(stdout, "  state changes: pause %d, reject %d, resume %d\n", st.Flips["pause"], st.Flips["reject"], st.Flips["resume"])
	fmt.Fprintf(stdout, "  goroutines %d -> %d, live heap %.1f -> %.1f MiB\n", st.GoroutinesStart, st.GoroutinesEnd,
		float64(st.HeapStart)/(1<<20), float64(st.HeapEnd)/(1<<20))
	return err
}
