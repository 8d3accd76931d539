package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/bench"
)

const handoffUsage = `Usage: acceptgate handoff [flags]

Runs two gates on one loopback port (or -rtt away) with SO_REUSEPORT under
a loop of clients, moves traffic between them, and counts what the clients
saw. With -rtt, the server's namespace takes this host's tcp_migrate_req.`

func runHandoff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("handoff", handoffUsage, stderr)
	conns := fs.Int("conns", 20000, "connections per mode, in all")
	handoffs := fs.Int("handoffs", 200, "times traffic moves between the two sockets, per mode")
	clients := fs.Int("clients", 4, "concurrent client loops")
	leave := fs.String("leave", "reject,close", "how the leaving socket goes: reject, close, or both")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	wf := addWireFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// One row per leave mode; the embedded result's fields are flattened
	// into the row, with their own snake_case keys.
	type row struct {
		Leave        string  `json:"leave"`
		MigrateReq   string  `json:"tcp_migrate_req"`
		ResetsPer10k float64 `json:"resets_per_10k"`
		bench.HandoffResult
	}
	// Whether the kernel moves a closed socket's queue to another member of
	// its SO_REUSEPORT group (Linux 5.14+): with 0, every connection queued
	// on a socket that leaves by Close is reset, which is what -leave close
	// measures.
	migrate := "unknown"
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req"); err == nil {
		migrate = strings.TrimSpace(string(b))
	}
	var rows []row
	for _, name := range strings.Split(*leave, ",") {
		mode := bench.LeaveReject
		switch name {
		case "reject":
		case "close":
			mode = bench.LeaveClose
		default:
			return fmt.Errorf("handoff: -leave: unknown mode %q", name)
		}
		// A wire of its own for each mode: Close's tcp_migrate_req is set
		// in its server's namespace.
		n, closeWire, err := wf.open(stderr)
		if err != nil {
			return err
		}
		if n != nil && mode == bench.LeaveClose && migrate == "1" {
			err = n.Server(func() error {
				return os.WriteFile("/proc/sys/net/ipv4/tcp_migrate_req", []byte("1"), 0)
			})
		}
		if err != nil {
			closeWire()
			return err
		}
		start := time.Now()
		r, err := bench.Handoff(ctx, bench.HandoffConfig{
			Conns: *conns, Handoffs: *handoffs, Clients: *clients, Leave: mode, Net: n,
			Progress: func(done int) {
				if done%10000 == 0 {
					fmt.Fprintf(stderr, "handoff %s: %d/%d connections, %s\n", name, done, *conns, time.Since(start).Round(time.Millisecond))
				}
			},
		})
		closeWire()
		if err != nil {
			return err
		}
		rows = append(rows, row{name, migrate, r.ResetsPer10k(), r})
	}
	if *asJSON {
		return writeJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "leave\ttcp_migrate_req\tconns\thandoffs\tserved\trefused\treset\ttimed out\tresets/10k\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t\n", r.Leave, r.MigrateReq, r.Conns, r.Handoffs, r.Served, r.Refused, r.Reset, r.TimedOut, r.ResetsPer10k)
	}
	return tw.Flush()
}
