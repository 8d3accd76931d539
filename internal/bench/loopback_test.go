package bench_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/netutil"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/internal/sockets"
)

const patience = 10 * time.Second

func listenLoopback(b *testing.B) *net.TCPListener {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln.(*net.TCPListener)
}

// acceptAndClose accepts until ln is closed, closing every connection, and
// counts them.
func acceptAndClose(ln net.Listener, accepted *atomic.Int64) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return wg.Wait
}

// dialN makes n connections to addr from dialers goroutines, each closed at
// once with a reset so that no TIME_WAIT piles up on loopback.
func dialN(b *testing.B, addr string, n, dialers int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				c, err := net.DialTimeout("tcp4", addr, patience)
				if err != nil {
					b.Error(err)
					return
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// BenchmarkLoopbackAccept measures connections per second through a real
// loopback listener: dial, accept, close.
func BenchmarkLoopbackAccept(b *testing.B) {
	for _, dialers := range []int{1, 2, 8, 64} {
		for _, kind := range []string{"raw", "gate", "netutil-limit"} {
			b.Run(fmt.Sprintf("%s/dialers=%d", kind, dialers), func(b *testing.B) {
				var ln net.Listener = listenLoopback(b)
				switch kind {
				case "gate":
					ln = acceptgate.Wrap(ln)
				case "netutil-limit":
					ln = netutil.LimitListener(ln, limit)
				}
				var accepted atomic.Int64
				wait := acceptAndClose(ln, &accepted)
				start := time.Now()
				b.ResetTimer()
				dialN(b, ln.Addr().String(), b.N, dialers)
				for accepted.Load() < int64(b.N) && time.Since(start) < patience {
					time.Sleep(10 * time.Microsecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
				ln.Close()
				wait()
			})
		}
	}
}

// latencies collects one duration per iteration and reports percentiles.
type latencies []time.Duration

func (ls latencies) report(b *testing.B) {
	if len(ls) == 0 {
		return
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	pct := func(p float64) float64 {
		return float64(ls[int(p*float64(len(ls)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkTransition measures how long each transition takes to act, on a
// real loopback socket, as p50 and p99 in microseconds.
func BenchmarkTransition(b *testing.B) {
	b.Run("pause-blocked-accept", func(b *testing.B) {
		g := acceptgate.Wrap(listenLoopback(b))
		var accepted atomic.Int64
		wait := acceptAndClose(g, &accepted)
		ls := make(latencies, 0, b.N)
		for b.Loop() {
			b.StopTimer()
			waitInKernelAccept(b)
			b.StartTimer()
			t0 := time.Now()
			must(b, g.Pause())
			ls = append(ls, time.Since(t0))
			must(b, g.Resume())
		}
		ls.report(b)
		g.Close()
		wait()
	})
	b.Run("resume-to-queued-accepted", func(b *testing.B) {
		g := acceptgate.Wrap(listenLoopback(b))
		got := make(chan struct{})
		wait := acceptSignal(g, got)
		ls := make(latencies, 0, b.N)
		must(b, g.Pause())
		for b.Loop() {
			c := dialOne(b, g.Addr().String())
			waitQueued(b, g, 1)
			t0 := time.Now()
			must(b, g.Resume())
			<-got
			ls = append(ls, time.Since(t0))
			must(b, g.Pause())
			c.Close()
		}
		ls.report(b)
		g.Close()
		wait()
	})
	b.Run("reject-to-refused", func(b *testing.B) {
		g := acceptgate.Wrap(listenLoopback(b))
		ls := make(latencies, 0, b.N)
		addr := g.Addr().String()
		for b.Loop() {
			t0 := time.Now()
			must(b, g.Reject())
			_, err := net.DialTimeout("tcp4", addr, patience)
			ls = append(ls, time.Since(t0))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				b.Fatalf("dial while rejecting: %v", err)
			}
			must(b, g.Resume())
		}
		ls.report(b)
		g.Close()
	})
	b.Run("resume-rejecting-to-accepted", func(b *testing.B) {
		g := acceptgate.Wrap(listenLoopback(b))
		got := make(chan struct{})
		wait := acceptSignal(g, got)
		ls := make(latencies, 0, b.N)
		for b.Loop() {
			must(b, g.Reject())
			t0 := time.Now()
			must(b, g.Resume())
			c := dialOne(b, g.Addr().String())
			<-got
			ls = append(ls, time.Since(t0))
			c.Close()
		}
		ls.report(b)
		g.Close()
		wait()
	})
}

// BenchmarkContention accepts while another goroutine flips Pause and Resume
// as fast as it can; every connection dialled must be accepted.
func BenchmarkContention(b *testing.B) {
	g := acceptgate.Wrap(listenLoopback(b))
	var accepted atomic.Int64
	wait := acceptAndClose(g, &accepted)
	stop := make(chan struct{})
	var flips atomic.Int64
	var toggler sync.WaitGroup
	toggler.Add(1)
	go func() {
		defer toggler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			g.Pause()
			g.Resume()
			flips.Add(1)
		}
	}()
	start := time.Now()
	b.ResetTimer()
	dialN(b, g.Addr().String(), b.N, 8)
	close(stop)
	toggler.Wait()
	must(b, g.Resume())
	for accepted.Load() < int64(b.N) && time.Since(start) < patience {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	if n := accepted.Load(); n != int64(b.N) {
		b.Fatalf("accepted %d of %d connections", n, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
	b.ReportMetric(float64(flips.Load())/time.Since(start).Seconds(), "flips/s")
	g.Close()
	wait()
}

func acceptSignal(g net.Listener, got chan<- struct{}) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			c.Close()
			got <- struct{}{}
		}
	}()
	return wg.Wait
}

func dialOne(b *testing.B, addr string) net.Conn {
	c, err := net.DialTimeout("tcp4", addr, patience)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func waitQueued(b *testing.B, g *acceptgate.Listener, n int) {
	deadline := time.Now().Add(patience)
	for {
		q, err := backlog.Of(g)
		if err != nil {
			b.Skip("cannot read the accept queue here:", err)
		}
		if q.Len >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("client not queued")
		}
	}
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Helper()
		b.Fatal(err)
	}
}

// waitInKernelAccept waits until a goroutine is blocked in the kernel's
// accept, the case Pause has to wake.
func waitInKernelAccept(b *testing.B) {
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(patience)
	for !bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("net.(*TCPListener).accept")) {
		if time.Now().After(deadline) {
			b.Fatal("no goroutine blocked in accept")
		}
		runtime.Gosched()
	}
}

// BenchmarkRejectResume measures a Reject and a Resume on an idle loopback
// socket in each of the ways Reject can work: behind a fence lifted in place
// (CAP_NET_RAW), behind a fence lifted by replacing the socket (no
// privilege), and stopping the socket where no fence can be put up (a
// namespace with only lo). The ways not open to this process are made so
// through the gate's fault seam.
func BenchmarkRejectResume(b *testing.B) {
	for _, mode := range []struct {
		name string
		arm  []string
		unix bool
	}{
		{name: "fence-lifted"},
		{name: "fence-replaced", arm: []string{faults.Probe, faults.Unfence}},
		{name: "stopped", arm: []string{faults.Fence}},
		{name: "unix-hidden", unix: true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for _, op := range mode.arm {
				disarm := faults.Arm(op, 1, syscall.EPERM)
				defer disarm()
			}
			network, address := "tcp4", "127.0.0.1:0"
			if mode.unix {
				network, address = "unix", filepath.Join(b.TempDir(), "s")
			}
			g, err := acceptgate.Listen(context.Background(), network, address)
			must(b, err)
			defer g.Close()
			must(b, g.Reject())
			if mode.name == "fence-lifted" && (g.Stats().Backlog < 0 || !sockets.CanLiftFence()) {
				b.Skip("no fence here, or no privilege to lift it")
			}
			must(b, g.Resume())
			for b.Loop() {
				must(b, g.Reject())
				must(b, g.Resume())
			}
		})
	}
}
