// Command lab holds acceptgate's experiments and measurements: what clients
// live through in each state of a gate, across a handoff, under a soak, and
// the benchmark suite that writes docs/measurements.md's Performance table.
// From the repository's root:
//
//	go run ./lab backlog [flags]  what clients see in each state; -plot FILE draws it
//	go run ./lab handoff [flags]  what clients see when traffic moves to another socket or process
//	go run ./lab bench [flags]    the benchmark suite, into docs/measurements.md's Performance table
//	go run ./lab soak [flags]     serve under load while flipping states
//	go run ./lab fleet [flags]    roll upgrades and drains through a fleet behind HAProxy or nginx
//	go run ./lab rejectcost [flags] what Reject and Resume cost on a busy host, in each way of refusing
//
// -rtt, -jitter and -loss move an experiment's clients a round trip away
// (two network namespaces this process makes; root only). Run
// "go run ./lab help COMMAND" for a command's flags.
//
// The lab is no part of what users install: it lives and is versioned with
// the repository, is run from a checkout, and so may import the library's
// internal packages (internal/bench, internal/wire), which change with the
// library in the same commit. Operators run cmd/acceptgate, which uses only
// the library's public API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"backlog", "show what clients live through in each state, with the accept queue", runBacklog},
	{"handoff", "measure what clients see when traffic moves to another socket or process", runHandoff},
	{"bench", "run the benchmark suite and rewrite docs/measurements.md's Performance table", runBench},
	{"soak", "serve under load while flipping states; count what clients saw", runSoak},
	{"fleet", "roll upgrades and drains through a fleet behind HAProxy or nginx; count what clients saw", runFleet},
	{"rejectcost", "what Reject and Resume cost, and what clients see, on a busy host", runRejectCost},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case generationCommand:
		return runGeneration(ctx, args[1:], stdout, stderr)
	case costRunCommand:
		return runCostRun(ctx, args[1:], stdout, stderr)
	case costHoldCommand:
		return runHold(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: go run ./lab COMMAND [flags]   (from the repository's root)")
	fmt.Fprintln(w, "\nLab commands (experiments and measurements):")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run 'go run ./lab help COMMAND' for its flags. The operator's commands
(serve, ctl) are in cmd/acceptgate.`)
}

// newFlagSet returns the flag set of a command: errors and -h go to stderr,
// and -h prints usage, then the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// writeJSON writes v as indented JSON: the -json output of every command.
// Its keys are snake_case, as the admin API's are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
