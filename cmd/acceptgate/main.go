// Command acceptgate runs a server behind an acceptgate Listener and
// controls its gates; apart from that, it holds the lab that measures them.
//
// For operators:
//
//	acceptgate serve [flags]    a demo HTTP server on 127.0.0.1:8080 behind a gate, with an admin API;
//	                            --upgrade-socket and --takeover upgrade it in place
//	acceptgate ctl [flags] status|pause|reject|resume [NAME] | drain
//	                            show and change the gates through the admin API
//
// Lab (experiments and measurements):
//
//	acceptgate backlog [flags]  what clients see in each state; --plot FILE draws it
//	acceptgate handoff [flags]  what clients see when traffic moves to another socket or process
//	acceptgate bench [flags]    the benchmark suite, into docs/measurements.md's Performance table
//	acceptgate soak [flags]     serve under load while flipping states
//
// Run "acceptgate help COMMAND" for a command's flags, "acceptgate --version"
// for the version.
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
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; a
// module build reports its own version instead.
var version = "dev"

type command struct {
	name, summary string
	lab           bool // an experiment or measurement, not an operator's tool
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is what usage lists: the operator's commands first, then the
// lab's, so that the part an operator needs reads alone.
var commands = []command{
	{"serve", "run a demo HTTP server behind a gate, with an admin API; upgrade it in place", false, runServe},
	{"ctl", "show and change the gates, or drain them, through the admin API", false, runCtl},
	{"backlog", "show what clients live through in each state, with the accept queue", true, runBacklog},
	{"handoff", "measure what clients see when traffic moves to another socket or process", true, runHandoff},
	{"bench", "run the benchmark suite and rewrite docs/measurements.md's Performance table", true, runBench},
	{"soak", "serve under load while flipping states; count what clients saw", true, runSoak},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "acceptgate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "acceptgate", buildVersion())
		return nil
	case generationCommand:
		return runGeneration(ctx, args[1:], stdout, stderr)
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
	fmt.Fprintln(w, "Usage: acceptgate COMMAND [flags]")
	for _, group := range []struct {
		heading string
		lab     bool
	}{{"Commands:", false}, {"Lab (experiments and measurements):", true}} {
		fmt.Fprintf(w, "\n%s\n", group.heading)
		for _, c := range commands {
			if c.lab == group.lab {
				fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
			}
		}
	}
	fmt.Fprintln(w, `
Run 'acceptgate help COMMAND' for its flags; 'acceptgate --version' for the version.`)
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
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
