// Command acceptgate runs a server behind an acceptgate Listener and
// controls its gates:
//
//	acceptgate serve [flags]    a demo HTTP server on 127.0.0.1:8080 behind a gate, with an admin API;
//	                            --upgrade-socket and --takeover upgrade it in place
//	acceptgate ctl [flags] status|pause|reject|resume [NAME] | drain
//	                            show and change the gates through the admin API
//
// Run "acceptgate help COMMAND" for a command's flags, "acceptgate --version"
// for the version. It uses only the library's public API, so that once the
// library is tagged it builds against a published version of it, not only
// against the working tree.
//
// The experiments and measurements (what clients see in each state, across
// a handoff, under a soak, and the benchmark suite) are not part of it: they
// are the lab, run from a checkout with "go run ./lab -help".
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

// commands is what usage lists: an operator's tools only; the lab is a
// command of its own.
var commands = []command{
	{"serve", "run a demo HTTP server behind a gate, with an admin API; upgrade it in place", runServe},
	{"ctl", "show and change the gates, or drain them, through the admin API", runCtl},
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
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run 'acceptgate help COMMAND' for its flags; 'acceptgate --version' for the version.
Experiments and measurements are the lab's: 'go run ./lab -help' in a checkout.`)
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
