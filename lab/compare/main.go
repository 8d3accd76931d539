// Command compare measures, in one run, what six upgrades in place under
// load cost the clients of three servers of the same size: examples/upgrade
// (package upgrade), acceptgate serve, and the same server written with
// github.com/cloudflare/tableflip (./tableflip). Each serves GET / on
// loopback while hey sends requests, a new connection each, and gets
// SIGHUP spread over the run; compare prints per server the requests, the
// answers that were not 200, the errors, and the processes that served.
//
// From the repository's root:
//
//	go run ./lab/compare -duration 15s -upgrades 6
//
// It builds the servers from the workspace, or takes them from -bin (what
// `go build -o DIR/ ./examples/upgrade ./cmd/acceptgate
// ./lab/compare/tableflip` leaves there), so that it can run as an
// ordinary user. It needs hey (Debian package hey) and Linux.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"text/tabwriter"
	"time"
)

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 15*time.Second, "how long hey sends requests to each server (hey -z)")
	flag.IntVar(&c.upgrades, "upgrades", 6, "SIGHUPs spread over each run")
	flag.IntVar(&c.concurrency, "c", 8, "hey's concurrent clients (hey -c)")
	flag.StringVar(&c.bin, "bin", "", "`dir`ectory holding the servers upgrade, acceptgate and tableflip; empty: build them")
	flag.Parse()
	log.SetFlags(0)
	results, err := run(c, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	printTable(os.Stdout, c, results)
}

// config is one comparison run.
type config struct {
	duration    time.Duration
	upgrades    int
	concurrency int
	bin         string
}

// result is what one server's clients saw.
type result struct {
	server   string
	requests int      // answers and errors together
	non200   int      // answers with another status
	errors   int      // requests with no answer: reset, closed unanswered, refused
	pids     int      // distinct processes that served, the first one included
	upgrades int      // SIGHUPs after which another process took over
	firstErr []string // hey's error lines, at most a few
}

func printTable(w io.Writer, c config, results []result) {
	fmt.Fprintf(w, "hey -z %v -c %d -disable-keepalive, %d upgrades (SIGHUP) spread over each run\n\n", c.duration, c.concurrency, c.upgrades)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\trequests\tnon-200\terrors\tupgrades\tpids\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d/%d\t%d\t\n", r.server, r.requests, r.non200, r.errors, r.upgrades, c.upgrades, r.pids)
	}
	tw.Flush()
	for _, r := range results {
		for _, e := range r.firstErr {
			fmt.Fprintf(w, "%s: %s\n", r.server, e)
		}
	}
}
