package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// results holds benchmark figures by benchmark name (without the -GOMAXPROCS
// suffix) and unit ("ns/op", "conns/s", "p99-µs"...), every run's value.
type results map[string]map[string][]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseResults reads `go test -bench` output, as benchstat does.
func parseResults(r io.Reader) (results, error) {
	res := results{}
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

// median returns the median of a benchmark's unit over its runs, and whether
// there was any.
func (r results) median(name, unit string) (float64, bool) {
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

// med is median where a missing benchmark reads as 0.
func (r results) med(name, unit string) float64 { v, _ := r.median(name, unit); return v }

// runs returns how many runs a benchmark had.
func (r results) runs(name, unit string) int { return len(r[name][unit]) }

// markdown writes docs/measurements.md's performance tables: medians, ratios and
// whether each target holds. The targets are the project's, written down in
// the tables' rows below; a missed one is shown in bold.
func (r results) markdown(w io.Writer) {
	r.acceptTable(w)
	r.loopbackTable(w)
	r.transitionTable(w)
	fmt.Fprintf(w, "\nContention: %.0f connections/s accepted, none lost, while another goroutine flipped Pause/Resume %.0f times a second.\n",
		r.med("BenchmarkContention", "conns/s"), r.med("BenchmarkContention", "flips/s"))
}

// acceptTable compares the in-memory Accept paths with the raw listener and
// with netutil.LimitListener.
func (r results) acceptTable(w io.Writer) {
	const acc = "BenchmarkAccept/"
	raw, limit := r.med(acc+"raw", "ns/op"), r.med(acc+"netutil-limit", "ns/op")
	fmt.Fprintf(w, "In-memory accept (median of %d runs):\n\n", r.runs(acc+"raw", "ns/op"))
	tableHead(w, "| accept path | ns/op | B/op | allocs/op | vs raw | vs LimitListener | target |", "|---|---:|---:|---:|---:|---:|---|")
	// Targets: an untracked gate costs at most 3 ns over the raw listener
	// and allocates nothing; a tracked or limited one, a quarter of what
	// LimitListener costs, with one allocation at most.
	untracked := func(ns, allocs float64) bool { return ns-raw <= 3 && allocs == 0 }
	tracked := func(ns, allocs float64) bool { return ns <= limit/4 && allocs <= 1 }
	for _, row := range []struct {
		name, target string
		met          func(ns, allocs float64) bool // nil: no target
	}{
		{"raw", "", nil},
		{"gate-untracked", "≤ raw + 3 ns, 0 allocs", untracked},
		{"gate-untracked-wakeable", "", nil},
		{"gate-tracked", "≤ 0.25 × LimitListener, ≤ 1 alloc", tracked},
		{"gate-max-conns", "≤ 0.25 × LimitListener, ≤ 1 alloc", tracked},
		{"netutil-limit", "", nil},
	} {
		ns, allocs := r.med(acc+row.name, "ns/op"), r.med(acc+row.name, "allocs/op")
		target := row.target
		if row.met != nil {
			target += ": " + verdict(row.met(ns, allocs))
		}
		fmt.Fprintf(w, "| %s | %.1f | %.0f | %.0f | %+.1f ns | %.2f× | %s |\n",
			row.name, ns, r.med(acc+row.name, "B/op"), allocs, ns-raw, ns/limit, target)
	}
}

// loopbackTable compares connections per second through a real loopback
// socket; the target is that the gate keeps 97 % of the raw rate.
func (r results) loopbackTable(w io.Writer) {
	fmt.Fprintln(w, "\nLoopback dial + accept + close, connections per second:")
	fmt.Fprintln(w)
	tableHead(w, "| dialers | raw | gate | gate / raw | LimitListener | target gate ≥ 0.97 × raw |", "|---:|---:|---:|---:|---:|---|")
	for _, d := range []int{1, 2, 8, 64} {
		rate := func(kind string) float64 {
			return r.med(fmt.Sprintf("BenchmarkLoopbackAccept/%s/dialers=%d", kind, d), "conns/s")
		}
		raw, gate, limit := rate("raw"), rate("gate"), rate("netutil-limit")
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.3f | %.0f | %s |\n", d, raw, gate, gate/raw, limit, verdict(gate >= 0.97*raw))
	}
}

// transitionTable shows how long each transition takes to act. Pause is
// held to its p99, as a goroutine blocked in accept must leave before Pause
// returns; the others to their p50.
func (r results) transitionTable(w io.Writer) {
	fmt.Fprintln(w, "\nTransitions on a loopback socket, microseconds:")
	fmt.Fprintln(w)
	tableHead(w, "| transition | p50 | p99 | target |", "|---|---:|---:|---|")
	for _, row := range []struct{ name, what string }{
		{"pause-blocked-accept", "Pause() returns, a goroutine blocked in accept"},
		{"resume-to-queued-accepted", "Resume() until a queued client is accepted"},
		{"reject-to-refused", "Reject() until a new dial is refused"},
		{"resume-rejecting-to-accepted", "Resume() from rejecting until a new dial is accepted"},
	} {
		p50, p99 := r.med("BenchmarkTransition/"+row.name, "p50-µs"), r.med("BenchmarkTransition/"+row.name, "p99-µs")
		target := "p50 < 100 µs: " + verdict(p50 < 100)
		if row.name == "pause-blocked-accept" {
			target = "p99 < 50 µs: " + verdict(p99 < 50)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %s |\n", row.what, p50, p99, target)
	}
}

// tableHead writes a Markdown table's header row and its alignment row.
func tableHead(w io.Writer, header, align string) {
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, align)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}
