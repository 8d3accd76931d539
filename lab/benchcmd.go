package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const perfBegin, perfEnd = "<!-- perf:begin -->", "<!-- perf:end -->"

const benchUsage = `Usage: go run ./lab bench [flags]

Runs the benchmark suite in ./internal/bench (from the repository's root),
prints the medians, ratios and targets as Markdown, and rewrites the
Performance table of the -out file (docs/measurements.md) between its perf
markers.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchUsage, stderr)
	count := fs.Int("count", 6, "runs of each benchmark; medians are reported")
	out := fs.String("out", "docs/measurements.md", "`file` whose Performance table is rewritten, between its perf markers; empty to only print")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The suite takes minutes: find out first whether its table has
	// somewhere to go.
	if *out != "" {
		if _, _, _, err := findMarkers(*out, perfBegin, perfEnd); err != nil {
			return err
		}
	}
	// The benchmarks live in internal/bench's _test files, which only go test
	// builds: run it, from the repository's root, and read what it prints.
	var raw bytes.Buffer
	// Each round runs every benchmark once, so that the machine's drift
	// over the minutes of a run spreads evenly over what is compared.
	// Loopback throughput gets more connections per run than the rest: a
	// run of a fraction of a second is at the mercy of the machine's noise.
	for round := 1; round <= *count; round++ {
		for _, pass := range []struct{ bench, benchtime string }{
			{"^BenchmarkAccept$", "1s"},
			{"^BenchmarkLoopbackAccept$", "10000x"},
			{"^Benchmark(Transition|Contention)$", "3000x"},
		} {
			fmt.Fprintf(stderr, "bench: round %d of %d: %s\n", round, *count, pass.bench)
			cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pass.bench, "-benchmem",
				"-benchtime", pass.benchtime, "-count", "1", "./internal/bench")
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			out, err := cmd.Output()
			raw.Write(out)
			progress(stderr, out)
			if err != nil {
				return goTestFailed(cmd, err, out, errOut.Bytes())
			}
		}
	}
	res, err := parseResults(&raw)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "Measured %s on %s, %d cores, Linux %s, %s, by `go run ./lab bench`.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), kernel(), goVersion(ctx))
	res.markdown(&md)
	stdout.Write(md.Bytes())
	if *out == "" {
		return nil
	}
	return replaceBetween(*out, perfBegin, perfEnd, md.String())
}

// progress echoes a run's result lines to stderr, so a long run shows it is
// alive.
func progress(w io.Writer, out []byte) {
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") {
			fmt.Fprintln(w, line)
		}
	}
}

// goTestFailed says why a run of go test failed, with the last lines it
// wrote: "exit status 1" alone tells nothing.
func goTestFailed(cmd *exec.Cmd, err error, stdout, stderr []byte) error {
	tail := lastLines(string(stderr)+string(stdout), 15)
	hint := ""
	if strings.Contains(tail, "directory not found") || strings.Contains(tail, "go.mod file not found") ||
		strings.Contains(tail, "outside main module") || strings.Contains(tail, "outside modules listed") || strings.Contains(tail, "cannot find") {
		hint = "\nrun bench from the repository's root, the directory holding go.mod and internal/bench/"
	}
	return fmt.Errorf("bench: %s failed: %w; its last lines:\n%s%s", strings.Join(cmd.Args, " "), err, tail, hint)
}

// lastLines returns the last n lines of s that are not blank.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, "  "+l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errNoMarkers is the error of replaceBetween for a file without the
// markers.
var errNoMarkers = errors.New("no perf markers")

// replaceBetween rewrites the file at path with body in place of whatever
// stood between the begin and end markers, which stay; the rest of the file
// is left as it was. Without both markers, begin first, it changes nothing
// and returns an error wrapping errNoMarkers.
func replaceBetween(path, begin, end, body string) error {
	s, i, j, err := findMarkers(path, begin, end)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(s[:i+len(begin)]+"\n"+body+s[j:]), 0o644)
}

// findMarkers reads the file at path and returns it with where begin and
// end stand in it, or an error naming the file and the marker missing.
func findMarkers(path, begin, end string) (s string, i, j int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0, fmt.Errorf("bench: -out: %w (run bench from the repository's root, or pass -out FILE, or -out \"\" to only print the table)", err)
	}
	s = string(b)
	i, j = strings.Index(s, begin), strings.Index(s, end)
	if i >= 0 && j >= i {
		return s, i, j, nil
	}
	var what string
	switch {
	case i < 0 && j < 0:
		what = "neither " + begin + " nor " + end
	case i < 0:
		what = "no " + begin + " before its " + end
	case j < 0:
		what = "no " + end + " after its " + begin
	default:
		what = end + " before " + begin
	}
	return "", 0, 0, fmt.Errorf("bench: -out %s has %s, so there is nowhere to write the table: %w (put the two lines around the table, or pass -out \"\" to only print it)", path, what, errNoMarkers)
}

// cpuModel, kernel and goVersion name the machine a table was measured on:
// the figures mean little without it. Each falls back to what the runtime
// knows where /proc or the go command cannot tell.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(b))
}

func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}
