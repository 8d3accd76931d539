package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/httpgate"
)

// SoakConfig shapes a soak run.
type SoakConfig struct {
	Duration  time.Duration // default 30s
	Clients   int           // concurrent client loops; default 16
	FlipEvery time.Duration // mean time between state changes; default 250ms
	Seed      uint64        // for the state changes; 0 picks one
	Net       Net           // where the server and clients live; nil for loopback
	// Progress, if set, is called every ProgressEvery (default 5s).
	Progress      func(SoakStats)
	ProgressEvery time.Duration
}

// SoakStats is what a soak run saw.
type SoakStats struct {
	Seed     uint64        `json:"seed"`
	Elapsed  time.Duration `json:"elapsed"`
	Requests int           `json:"requests"` // attempted
	Served   int           `json:"served"`   // answered 200
	Refused  int           `json:"refused"`  // connect refused: the gate was rejecting
	// Reset counts clients that connected, then were reset or cut off,
	// outside any Reject call; ResetInReject those whose connect overlapped
	// a Reject call, the window in which Reject may reset (see Soak).
	Reset         int            `json:"reset"`
	ResetInReject int            `json:"reset_in_reject"`
	TimedOut      int            `json:"timed_out"` // connect or answer timed out
	Flips         map[string]int `json:"flips"`     // state changes made, by "pause", "reject", "resume"
	// Latencies of the requests served, from the start of the connect:
	// to its end, and to the answer's first line (within 2%).
	ConnectP50 time.Duration `json:"connect_p50"`
	ConnectP99 time.Duration `json:"connect_p99"`
	FirstP50   time.Duration `json:"first_byte_p50"`
	FirstP99   time.Duration `json:"first_byte_p99"`

	GoroutinesStart int    `json:"goroutines_start"`
	GoroutinesEnd   int    `json:"goroutines_end"`
	HeapStart       uint64 `json:"heap_start"` // live heap after a GC, bytes
	HeapEnd         uint64 `json:"heap_end"`
}

// ErrResets is wrapped by Soak's error when a client that connected outside
// a Reject call was reset.
var ErrResets = errors.New("clients reset after connecting")

// Soak serves HTTP behind a gate on loopback (or across cfg.Net) while
// client loops send requests, one connection each, and a driver flips the
// gate between accepting, paused and rejecting at random. Each loop is
// bounded by cfg.Duration and each request by 5 s; only loopback, or the
// server across cfg.Net, is dialled.
func Soak(ctx context.Context, cfg SoakConfig) (SoakStats, error) {
	cfg.defaults()
	st := SoakStats{Seed: cfg.Seed, Flips: map[string]int{}}
	st.GoroutinesStart, st.HeapStart = runtime.NumGoroutine(), liveHeap()

	var gate *acceptgate.Listener
	err := onServer(cfg.Net, func() (err error) {
		gate, err = acceptgate.Listen(ctx, "tcp", serverHost(cfg.Net)+":0", acceptgate.WithTracking())
		return err
	})
	if err != nil {
		return st, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(gate) }()

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex // guards st and rejects
	var rejects [][2]time.Time
	var connects, firsts latencies
	// A connect overlaps a Reject call if it started before the call ended
	// and completed after it began.
	inReject := func(began, connected time.Time) bool {
		for _, r := range rejects {
			if (r[1].IsZero() || began.Before(r[1])) && connected.After(r[0]) {
				return true
			}
		}
		return false
	}

	// One request per connection, so that every request meets the gate
	// in whatever state it is in, not a kept-alive connection it let in
	// earlier.
	get := probe{network: "tcp", dial: dialer(cfg.Net), connectTimeout: 5 * time.Second, answerTimeout: 5 * time.Second,
		request:  "GET / HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n",
		answered: func(status string) bool { return strings.HasPrefix(status, "HTTP/1.1 200") },
	}
	var wg sync.WaitGroup
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				began := time.Now()
				a := get.run(gate.Addr().String())
				mu.Lock()
				st.count(a.outcome, a.outcome == reset && inReject(began, a.connected))
				if a.outcome == served {
					connects.add(a.connect)
					firsts.add(a.first)
				}
				mu.Unlock()
			}
		}()
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x50a4))
	ticker := time.NewTicker(cfg.ProgressEvery)
	defer ticker.Stop()
	next := time.After(jitter(rng, cfg.FlipEvery))
	var flipErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			if cfg.Progress != nil {
				mu.Lock()
				snap := st
				mu.Unlock()
				snap.Elapsed = time.Since(start)
				cfg.Progress(snap)
			}
		case <-next:
			var name string
			var err error
			switch rng.IntN(3) {
			case 0:
				name, err = "pause", onServer(cfg.Net, gate.Pause)
			case 1:
				name = "reject"
				// Open the interval first: a client reset inside the call
				// is counted before the call returns.
				mu.Lock()
				rejects = append(rejects, [2]time.Time{time.Now()})
				mu.Unlock()
				err = onServer(cfg.Net, gate.Reject)
				mu.Lock()
				rejects[len(rejects)-1][1] = time.Now()
				mu.Unlock()
			default:
				name, err = "resume", onServer(cfg.Net, gate.Resume)
			}
			if err != nil {
				flipErr = fmt.Errorf("soak: %s: %w", name, err)
				break loop
			}
			mu.Lock()
			st.Flips[name]++
			mu.Unlock()
			next = time.After(jitter(rng, cfg.FlipEvery))
		}
	}
	cancel()
	onServer(cfg.Net, gate.Resume) // let clients queued by a pause finish
	wg.Wait()
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	onServer(cfg.Net, func() error { return httpgate.Shutdown(shutCtx, srv, gate) }) // Reject, in the server's namespace
	<-serveDone
	http.DefaultClient.CloseIdleConnections()

	st.Elapsed = time.Since(start)
	st.ConnectP50, st.ConnectP99 = connects.percentile(0.5), connects.percentile(0.99)
	st.FirstP50, st.FirstP99 = firsts.percentile(0.5), firsts.percentile(0.99)
	// Handler goroutines finish just after their connections close.
	for settle := time.Now(); runtime.NumGoroutine() > st.GoroutinesStart && time.Since(settle) < time.Second; {
		time.Sleep(time.Millisecond)
	}
	st.GoroutinesEnd, st.HeapEnd = runtime.NumGoroutine(), liveHeap()
	if flipErr != nil {
		return st, flipErr
	}
	if st.Reset > 0 {
		return st, fmt.Errorf("soak: %d %w", st.Reset, ErrResets)
	}
	return st, nil
}

func (cfg *SoakConfig) defaults() {
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 16
	}
	if cfg.FlipEvery <= 0 {
		cfg.FlipEvery = 250 * time.Millisecond
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
}

func jitter(rng *rand.Rand, mean time.Duration) time.Duration {
	return mean/2 + time.Duration(rng.Int64N(int64(mean)))
}

// count adds one request's outcome. A reset counts against the gate only
// if the connect did not overlap a Reject call: Reject may reset a client
// whose handshake completes while the socket is being taken down.
func (st *SoakStats) count(o outcome, inReject bool) {
	st.Requests++
	switch o {
	case served:
		st.Served++
	case refused:
		st.Refused++
	case timedOut, waiting:
		st.TimedOut++
	case reset:
		if inReject {
			st.ResetInReject++
		} else {
			st.Reset++
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
