// Command acceptgate runs a demo server behind an acceptgate Listener.
//
//	acceptgate serve [flags]    an HTTP server on 127.0.0.1:8080 behind a gate
//	acceptgate ctl [flags] status|pause|reject|resume [NAME] | drain
//	acceptgate backlog [flags]  what clients see in each state; --plot FILE draws it
//	acceptgate handoff [flags]  what clients see when traffic moves to another socket or process
//	acceptgate bench [flags]    the benchmark suite, into docs/measurements.md's Performance table
//	acceptgate soak [flags]     serve under load while flipping states
//	acceptgate --version
//
// Run "acceptgate help COMMAND" for a command's flags.
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
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run a demo HTTP server behind a gate", runServe},
	{"ctl", "show and change gates through the admin API", runCtl},
	{"backlog", "show what clients live through in each state, with the accept queue", runBacklog},
	{"handoff", "measure what clients see when traffic moves to another socket or process", runHandoff},
	{"bench", "run the benchmark suite and rewrite docs/measurements.md's Performance table", runBench},
	{"soak", "serve under load while flipping states; count what clients saw", runSoak},
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
	fmt.Fprintln(w, `Usage: acceptgate COMMAND [flags]

Commands:`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
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
