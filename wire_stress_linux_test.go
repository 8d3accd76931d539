package acceptgate_test

import (
	"context"
	"math/rand/v2"
	"net"
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

	endClients := runStressClients(16, func(n int) outcome {
		return stressClient(func() (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			return w.Dial(ctx, "tcp4", addr)
		}, n)
	})

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
			srv.closed(t, gate)
			listenAt(addr)
			srv.serve(gate)
			tl.end(&tl.openCut, &tl.cut)
			tl.end(&tl.openRef, &tl.refuse)
		}
	}
	require.NoError(t, inServer(t, w, gate.Resume))
	tl.end(&tl.openRef, &tl.refuse)
	gathered := endClients()
	elapsed := time.Since(start)

	require.NoError(t, gate.Close())
	srv.wg.Wait()
	counts := checkStress(t, srv, gate.Stats(), &tl, gathered)
	t.Logf("outcomes %v in %v (%.0f clients/s); %d connections delivered; wire %+v",
		counts, elapsed.Round(time.Millisecond), float64(len(gathered))/elapsed.Seconds(), srv.delivered, w.Stats())
	assert.Positive(t, counts["served"])
	assert.Positive(t, counts["refused"])

	w.Close()
	if fdsBefore >= 0 {
		eventually(t, func() bool { return openFDs(t) <= fdsBefore }, "descriptors back to %d (now %d)", fdsBefore, openFDs(t))
	}
}
