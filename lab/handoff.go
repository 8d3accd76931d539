package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acceptgate/acceptgate/internal/bench"
)

const handoffUsage = `Usage: go run ./lab handoff [flags]

Moves traffic from socket to socket on one port under a loop of clients,
on loopback or -rtt away, and counts what the clients saw. -via reuseport
runs two gates with SO_REUSEPORT in this process, and the one that leaves
goes by -leave; -via fd starts one server process after another, each
taking the listening socket from the last by passing it (package handoff).
With -rtt, the server's namespace takes this host's tcp_migrate_req.`

func runHandoff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("handoff", handoffUsage, stderr)
	conns := fs.Int("conns", 20000, "connections per mode, in all")
	handoffs := fs.Int("handoffs", 200, "times traffic moves, per mode")
	clients := fs.Int("clients", 4, "concurrent client loops")
	via := fs.String("via", "reuseport", "how traffic moves: reuseport, fd, or both (reuseport,fd)")
	leave := fs.String("leave", "reject,close", "with -via reuseport, how the leaving socket goes: reject, close, or both")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	wf := addWireFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// One row per mode; the embedded result's fields are flattened into
	// the row, with their own snake_case keys.
	type row struct {
		Via          string  `json:"via"`
		Leave        string  `json:"leave,omitempty"`
		MigrateReq   string  `json:"tcp_migrate_req"`
		ResetsPer10k float64 `json:"resets_per_10k"`
		bench.FDHandoffResult
	}
	// Whether the kernel moves a closed socket's queue to another member of
	// its SO_REUSEPORT group (Linux 5.14+): with 0, every connection queued
	// on a socket that leaves by Close is reset, which is what -leave close
	// measures.
	migrate := "unknown"
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req"); err == nil {
		migrate = strings.TrimSpace(string(b))
	}
	type mode struct{ via, leave string }
	var modes []mode
	for _, v := range strings.Split(*via, ",") {
		switch v {
		case "fd":
			modes = append(modes, mode{via: "fd"})
		case "reuseport":
			for _, name := range strings.Split(*leave, ",") {
				if name != "reject" && name != "close" {
					return fmt.Errorf("handoff: -leave: unknown mode %q", name)
				}
				modes = append(modes, mode{"reuseport", name})
			}
		default:
			return fmt.Errorf("handoff: -via: unknown mode %q", v)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("handoff: -via fd starts this program again: %w", err)
	}
	var rows []row
	for _, m := range modes {
		name := strings.TrimSuffix(m.via+" "+m.leave, " ")
		// A wire of its own for each mode: Close's tcp_migrate_req is set
		// in its server's namespace.
		n, closeWire, err := wf.open(stderr)
		if err != nil {
			return err
		}
		if n != nil && m.leave == "close" && migrate == "1" {
			err = n.Server(func() error {
				return os.WriteFile("/proc/sys/net/ipv4/tcp_migrate_req", []byte("1"), 0)
			})
		}
		var r bench.FDHandoffResult
		if err == nil && m.via == "fd" {
			r, err = bench.FDHandoff(ctx, bench.FDHandoffConfig{
				Conns: *conns, Handoffs: *handoffs, Clients: *clients, Net: n,
				Command: func(path string, take bool, address string) *exec.Cmd {
					args := []string{generationCommand, "--path", path, "--addr", address}
					if take {
						args = append(args, "--take")
					}
					cmd := exec.Command(self, args...)
					cmd.Stderr = stderr
					return cmd
				},
				Progress: handoffProgress(stderr, name, *conns, time.Now()),
			})
		} else if err == nil {
			leaveMode := bench.LeaveReject
			if m.leave == "close" {
				leaveMode = bench.LeaveClose
			}
			r.HandoffResult, err = bench.Handoff(ctx, bench.HandoffConfig{
				Conns: *conns, Handoffs: *handoffs, Clients: *clients, Leave: leaveMode, Net: n,
				Progress: handoffProgress(stderr, name, *conns, time.Now()),
			})
		}
		closeWire()
		if err != nil {
			return err
		}
		rows = append(rows, row{m.via, m.leave, migrate, r.ResetsPer10k(), r})
	}
	if *asJSON {
		return writeJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "via\tleave\ttcp_migrate_req\tconns\thandoffs\tserved\trefused\treset\ttimed out\tresets/10k\thandoff p50\thandoff p99\tfirst byte p99 during\toutside\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%s\t%s\t%s\t%s\t\n", r.Via, dash(r.Leave), r.MigrateReq, r.Conns, r.Handoffs,
			r.Served, r.Refused, r.Reset, r.TimedOut, r.ResetsPer10k, dur(r.HandoffP50), dur(r.HandoffP99), dur(r.FirstByteP99During), dur(r.FirstByteP99Outside))
	}
	return tw.Flush()
}

func handoffProgress(w io.Writer, mode string, conns int, start time.Time) func(int) {
	return func(done int) {
		if done%10000 == 0 {
			fmt.Fprintf(w, "handoff %s: %d/%d connections, %s\n", mode, done, conns, time.Since(start).Round(time.Millisecond))
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}

// generationCommand is the hidden command -via fd starts each server
// generation with.
const generationCommand = "handoff-generation"

func runGeneration(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(generationCommand, "Usage: lab handoff-generation (started by lab handoff -via fd)", stderr)
	path := fs.String("path", "", "the offer socket")
	addr := fs.String("addr", "127.0.0.1:0", "where the first generation listens")
	take := fs.Bool("take", false, "take the socket from the offer at --path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin) // the experiment ends a generation by closing its stdin
		cancel()
	}()
	return bench.ServeGeneration(ctx, *path, *take, *addr, stdout)
}
