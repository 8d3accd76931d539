package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Results holds benchmark figures by benchmark name (without the -GOMAXPROCS
// suffix) and unit ("ns/op", "conns/s", "p99-µs"...), every run's value.
type Results map[string]map[string][]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// ParseResults reads `go test -bench` output, as benchstat does.
func ParseResults(r io.Reader) (Results, error) {
	res := Results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("bench: %q: %w", sc.Text(), err)
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][fields[i+1]] = append(res[m[1]][fields[i+1]], v)
		}
	}
	return res, sc.Err()
}

// Median returns the median of a benchmark's unit over its runs, and whether
// there was any.
func (r Results) Median(name, unit string) (float64, bool) {
	vs := append([]float64(nil), r[name][unit]...)
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// Runs returns how many runs a benchmark had.
func (r Results) Runs(name, unit string) int { return len(r[name][unit]) }

// Markdown writes the README's performance tables: medians, ratios and
// whether each target holds.
func (r Results) Markdown(w io.Writer) {
	med := func(name, unit string) float64 { v, _ := r.Median(name, unit); return v }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	const acc = "BenchmarkAccept/"
	raw, limit := med(acc+"raw", "ns/op"), med(acc+"netutil-limit", "ns/op")
	fmt.Fprintf(w, "In-memory accept (median of %d runs):\n\n", r.Runs(acc+"raw", "ns/op"))
	fmt.Fprintln(w, "| accept path | ns/op | B/op | allocs/op | vs raw | vs LimitListener | target |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, row := range []struct{ name, target string }{
		{"raw", ""},
		{"gate-untracked", "≤ raw + 3 ns, 0 allocs"},
		{"gate-untracked-wakeable", ""},
		{"gate-tracked", "≤ 0.25 × LimitListener, ≤ 1 alloc"},
		{"gate-max-conns", "≤ 0.25 × LimitListener, ≤ 1 alloc"},
		{"netutil-limit", ""},
	} {
		ns := med(acc+row.name, "ns/op")
		allocs := med(acc+row.name, "allocs/op")
		target := row.target
		switch row.name {
		case "gate-untracked":
			target += ": " + verdict(ns-raw <= 3 && allocs == 0)
		case "gate-tracked", "gate-max-conns":
			target += ": " + verdict(ns <= limit/4 && allocs <= 1)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.0f | %.0f | %+.1f ns | %.2f× | %s |\n",
			row.name, ns, med(acc+row.name, "B/op"), allocs, ns-raw, ns/limit, target)
	}

	fmt.Fprintln(w, "\nLoopback dial + accept + close, connections per second:")
	fmt.Fprintln(w, "\n| dialers | raw | gate | gate / raw | LimitListener | target gate ≥ 0.97 × raw |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---|")
	for _, d := range []int{1, 2, 8, 64} {
		name := func(kind string) string { return fmt.Sprintf("BenchmarkLoopbackAccept/%s/dialers=%d", kind, d) }
		rw, g, l := med(name("raw"), "conns/s"), med(name("gate"), "conns/s"), med(name("netutil-limit"), "conns/s")
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.3f | %.0f | %s |\n", d, rw, g, g/rw, l, verdict(g >= 0.97*rw))
	}

	fmt.Fprintln(w, "\nTransitions on a loopback socket, microseconds:")
	fmt.Fprintln(w, "\n| transition | p50 | p99 | target |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, row := range []struct{ name, what string }{
		{"pause-blocked-accept", "Pause() returns, a goroutine blocked in accept"},
		{"resume-to-queued-accepted", "Resume() until a queued client is accepted"},
		{"reject-to-refused", "Reject() until a new dial is refused"},
		{"resume-rejecting-to-accepted", "Resume() from rejecting until a new dial is accepted"},
	} {
		p50, p99 := med("BenchmarkTransition/"+row.name, "p50-µs"), med("BenchmarkTransition/"+row.name, "p99-µs")
		target := "p50 < 100 µs: " + verdict(p50 < 100)
		if row.name == "pause-blocked-accept" {
			target = "p99 < 50 µs: " + verdict(p99 < 50)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %s |\n", row.what, p50, p99, target)
	}
	fmt.Fprintf(w, "\nContention: %.0f connections/s accepted, none lost, while another goroutine flipped Pause/Resume %.0f times a second.\n",
		med("BenchmarkContention", "conns/s"), med("BenchmarkContention", "flips/s"))
}
