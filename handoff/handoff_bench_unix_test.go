//go:build unix

package handoff_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// BenchmarkHandoff times one complete handoff (Listen, Serve, Take, Commit,
// until Serve returns) of 1, 8 and 64 TCP gates on 127.0.0.1, each served
// by an accept loop on both sides, as a server's would be. The gates go back
// and forth between two sets of accept loops in this process: each handoff
// takes the gates the one before handed over.
func BenchmarkHandoff(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("gates=%d", n), func(b *testing.B) {
			gates := make(map[string]*acceptgate.Listener, n)
			for i := range n {
				g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				gates[fmt.Sprintf("g%02d", i)] = g
			}
			var loops sync.WaitGroup
			serve := func(gates map[string]*acceptgate.Listener) {
				for _, g := range gates {
					loops.Add(1)
					go func() {
						defer loops.Done()
						for {
							c, err := g.Accept()
							if err != nil {
								return
							}
							c.Close()
						}
					}()
				}
			}
			serve(gates)
			defer func() {
				for _, g := range gates {
					g.Close()
				}
				loops.Wait()
			}()
			path := filepath.Join(shortDir(b), "handoff.sock")
			ctx := context.Background()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			// Take is the offer pausing every gate and sending them, and
			// the taker adopting them; Commit the taker putting them in
			// their state and the offer letting go of them.
			var take, commit time.Duration
			for range b.N {
				o, err := handoff.Listen(ctx, path, gates)
				if err != nil {
					b.Fatal(err)
				}
				served := make(chan error, 1)
				go func() { served <- o.Serve(ctx) }()
				t0 := time.Now()
				tk, err := handoff.Take(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				serve(tk.Listeners())
				if err := tk.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				commit += time.Since(t1)
				take += t1.Sub(t0)
				if err := <-served; err != nil {
					b.Fatal(err)
				}
				gates = tk.Listeners()
			}
			b.StopTimer()
			// The process's CPU time, both sides and every accept loop:
			// on a shared machine it moves less than the time taken.
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(take)/float64(b.N), "take-ns/op")
			b.ReportMetric(float64(commit)/float64(b.N), "commit-ns/op")
			// The last handoff's gates still serve: one client each shows
			// they came through whole.
			for _, g := range gates {
				c, err := net.Dial("tcp", g.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// cpuTime is the CPU time this process has used, in user and system mode.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
