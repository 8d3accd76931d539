//go:build unix

package handoff

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// eachGate calls f(i) for every i in [0, n) and returns once every call
// has returned. The calls run side by side, on up to twice GOMAXPROCS
// goroutines: a handoff's per-gate steps (pause, adopt, activate, let go)
// are independent of one another, each takes only its own gate's locks
// (never two gates' at once, so the root package's lock order holds), and
// each spends most of its time in the kernel or waiting for the gate's
// accept loops to step out. Made one after another, they cost a handoff of
// 64 gates 64 times one gate's steps. One gate is done on the caller's
// goroutine.
func eachGate(n int, f func(i int)) {
	workers := min(n, 2*runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
