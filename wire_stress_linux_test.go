package acceptgate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/wire"
)

// TestStressAcrossARoundTrip is a short TestStressAgainstModel with the
// clients 20 ms away: a driver flips the gate at random every 10 ms on
// average (Pause, Reject, Resume, Close and listen again), faster than a
// client's connect and request, and every client's outcome must be one the
// model allows in the states it met; every connection is delivered once,
// Stats agrees with the server, and no descriptor is left. No step is made to
// fail here: a failed fence would stop the socket, whose window is
// measured by TestNoResetAcrossARoundTrip.
func TestStressAcrossARoundTrip(t *testing.T) {
	seed := *stressSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -stress.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 20))
	fdsBefore := openFDs(t)

	w := newWire(t, true)
	var tl timeline
	srv := &stressServer{open: map[int]bool{}}
	var gate *acceptgate.Listener
	listenAt := func(addr string) {
		t.Helper()
		require.NoError(t, inServer(t, w, func() (err error) {
			gate, err = acceptgate.Listen(context.Background(), "tcp4", addr, acceptgate.WithTracking())
			return err
		}), "listen on %s", addr)
	}
	listenAt(wire.ServerIP + ":0")
	addr := gate.Addr().String()
	srv.serve(gate)

	stop := make(chan struct{})
	results := make(chan outcome, 1024)
	var gathered []outcome
	gathering := make(chan struct{})
	go func() {
		defer close(gathering)
		for r := range results {
			gathered = append(gathered, r)
		}
	}()
	var clients sync.WaitGroup
	for range 16 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				results <- wireStressClient(w, addr, n)
			}
		}()
	}

	var accepted uint64
	start := time.Now()
	// Half a round trip apart on average, and Close one time in twenty,
	// so that most clients meet a flip but few a Close.
	const ops = 200
	for range ops {
		time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond) // a random interval between operations, not synchronisation
		switch op := rng.IntN(20); {
		case op < 6:
			require.NoError(t, inServer(t, w, gate.Pause))
		case op < 10:
			tl.start(&tl.openRef)
			require.NoError(t, inServer(t, w, gate.Reject))
		case op < 19:
			require.NoError(t, inServer(t, w, gate.Resume))
			tl.end(&tl.openRef, &tl.refuse)
		default:
			tl.start(&tl.openRef)
			tl.start(&tl.openCut)
			require.NoError(t, gate.Close())
			srv.wg.Wait()
			stats := gate.Stats()
			srv.mu.Lock()
			assert.Equal(t, srv.accepted, stats.Accepted, "Stats().Accepted of the closed gate")
			accepted += srv.accepted
			srv.accepted = 0
			srv.mu.Unlock()
			listenAt(addr)
			srv.serve(gate)
			tl.end(&tl.openCut, &tl.cut)
			tl.end(&tl.openRef, &tl.refuse)
		}
	}
	require.NoError(t, inServer(t, w, gate.Resume))
	tl.end(&tl.openRef, &tl.refuse)
	close(stop)
	clients.Wait()
	close(results)
	<-gathering
	elapsed := time.Since(start)

	require.NoError(t, gate.Close())
	srv.wg.Wait()
	final := gate.Stats()

	counts := map[string]int{}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assert.Equal(t, srv.accepted, final.Accepted, "Stats().Accepted of the last gate")
	assert.Empty(t, srv.duplicates, "connections delivered twice")
	for _, r := range gathered {
		counts[r.kind]++
		switch r.kind {
		case "served":
		case "refused":
			assert.True(t, tl.mayRefuse(r.from, r.to), "client refused while the gate accepted or paused: %v", r.err)
		case "cut":
			assert.True(t, tl.mayCut(r.from, r.to), "client reset after connecting, with no Close near: %v", r.err)
		default:
			t.Errorf("client: %v", r.err)
		}
	}
	t.Logf("outcomes %v in %v (%.0f clients/s); %d connections delivered; wire %+v",
		counts, elapsed.Round(time.Millisecond), float64(len(gathered))/elapsed.Seconds(), srv.delivered, w.Stats())
	assert.Positive(t, counts["served"])
	assert.Positive(t, counts["refused"])

	w.Close()
	if fdsBefore >= 0 {
		eventually(t, func() bool { return openFDs(t) <= fdsBefore }, "descriptors back to %d (now %d)", fdsBefore, openFDs(t))
	}
}

// wireStressClient is stressClient across w.
func wireStressClient(w *wire.Wire, addr string, n int) outcome {
	from := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	c, err := w.Dial(ctx, "tcp4", addr)
	cancel()
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return outcome{kind: "refused", from: from, to: time.Now(), err: err}
		}
		if errors.Is(err, syscall.ECONNRESET) {
			return outcome{kind: "cut", from: from, to: time.Now(), err: err}
		}
		return outcome{kind: "other", err: err}
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	got, err := roundTrip(c, fmt.Sprint(n))
	switch {
	case err == nil && got == fmt.Sprintf("ok %d\n", n):
		return outcome{kind: "served", port: port}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), err != nil && err.Error() == "EOF":
		return outcome{kind: "cut", port: port, from: from, to: time.Now(), err: err}
	}
	return outcome{kind: "other", port: port, err: fmt.Errorf("answer %q: %v", got, err)}
}
