package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// BacklogConfig shapes the backlog experiment.
type BacklogConfig struct {
	Backlog        int           // listen backlog; default 16
	Clients        int           // clients per phase; default 3 × Backlog
	ConnectTimeout time.Duration // a client gives up connecting after this; default 1.5s
	Hold           time.Duration // how long a phase keeps the gate in its state; default 1.5s
	ResumeAfter    time.Duration // in paused-then-resumed, when Resume comes; default 500ms
	Sample         time.Duration // queue sampling interval; default 10ms
	Net            Net           // where the server and clients live; nil for loopback
	Progress       func(phase string)
}

// The outcomes a backlog client can have, as PhaseReport.Outcomes keys.
const (
	OutcomeServed   = "served"    // connected and answered
	OutcomeWaiting  = "waiting"   // connected, not answered when the phase ended
	OutcomeRefused  = "refused"   // connect refused at once
	OutcomeTimedOut = "timed_out" // connect timed out: its SYNs were dropped
	OutcomeReset    = "reset"     // connected, then reset
	OutcomeGaveUp   = "gave_up"   // connected, then closed without sending, as told to
)

// Outcomes lists the outcomes in the order reports show them.
var Outcomes = []string{OutcomeServed, OutcomeWaiting, OutcomeRefused, OutcomeTimedOut, OutcomeReset, OutcomeGaveUp}

// QueueSample is the accept queue's length at a moment of a phase.
type QueueSample struct {
	At  time.Duration `json:"at"`
	Len int           `json:"len"`
}

// PhaseReport is what the clients of one phase saw. Durations are from the
// start of a client's connect; in JSON, in nanoseconds.
type PhaseReport struct {
	Phase      string         `json:"phase"`
	Backlog    int            `json:"backlog"`
	Clients    int            `json:"clients"`
	Outcomes   map[string]int `json:"outcomes"`
	Received   uint64         `json:"received"` // connections the server's Accept returned
	Aborted    uint64         `json:"aborted"`  // connections the gate closed unreturned (WithSkipAborted)
	ConnectP50 time.Duration  `json:"connect_p50"`
	ConnectP99 time.Duration  `json:"connect_p99"`
	FirstP50   time.Duration  `json:"first_byte_p50"`
	FirstP99   time.Duration  `json:"first_byte_p99"`
	Queue      []QueueSample  `json:"queue"`
}

// Phases are the states the experiment runs clients against. What Linux does
// in each, with the defaults:
//
//   - accepting: every client is served.
//   - paused: the kernel completes handshakes into the accept queue until it
//     holds backlog+1 connections (it counts a queue as full only when it is
//     longer than the backlog), then drops further SYNs without answering.
//     The queued clients see their connect succeed and wait; the others
//     retransmit their SYN at 1 s, are dropped again, and time out.
//   - rejecting: no socket listens, so every SYN is answered with a reset:
//     refused at once.
//   - paused-then-resumed: as paused until Resume at ResumeAfter; the queue
//     is served in order, and a client whose SYN was dropped gets in with
//     its retransmission at 1 s, so every client is served.
//   - half-gave-up: as paused-then-resumed, with Backlog clients, all of
//     which fit in the queue; half of them close without sending anything
//     at ResumeAfter/2. The kernel keeps them queued, and after Resume the
//     server receives every one: half its work is for nobody.
//   - half-gave-up-skip: the same with WithSkipAborted: the server receives
//     only the clients still waiting; the gate closes the others (Aborted).
var Phases = []string{"accepting", "paused", "rejecting", "paused-then-resumed", "half-gave-up", "half-gave-up-skip"}

// BacklogExperiment runs, for each of Phases, a gate on loopback (or across
// cfg.Net) with cfg.Backlog and cfg.Clients clients that connect at once,
// send a request and wait for the answer, and reports what they saw while
// the accept queue is sampled. Every client is bounded by ConnectTimeout and
// the phase's length; only loopback, or the server across cfg.Net, is
// dialled.
func BacklogExperiment(ctx context.Context, cfg BacklogConfig) ([]PhaseReport, error) {
	cfg.defaults()
	if max, err := backlog.SystemMax(); err == nil && cfg.Backlog > max {
		return nil, fmt.Errorf("backlog %d: %w (%d)", cfg.Backlog, backlog.ErrAboveMax, max)
	}
	var reports []PhaseReport
	for _, phase := range Phases {
		if cfg.Progress != nil {
			cfg.Progress(phase)
		}
		r, err := runPhase(ctx, cfg, phase)
		if err != nil {
			return reports, fmt.Errorf("phase %s: %w", phase, err)
		}
		reports = append(reports, r)
	}
	return reports, nil
}

func (cfg *BacklogConfig) defaults() {
	if cfg.Backlog <= 0 {
		cfg.Backlog = 16
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 3 * cfg.Backlog
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 1500 * time.Millisecond
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 1500 * time.Millisecond
	}
	if cfg.ResumeAfter <= 0 {
		cfg.ResumeAfter = 500 * time.Millisecond
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 10 * time.Millisecond
	}
}

func runPhase(ctx context.Context, cfg BacklogConfig, phase string) (PhaseReport, error) {
	opts := []acceptgate.Option{acceptgate.WithBacklog(cfg.Backlog)}
	if phase == "half-gave-up-skip" {
		opts = append(opts, acceptgate.WithSkipAborted())
	}
	var gate *acceptgate.Listener
	err := onServer(cfg.Net, func() (err error) {
		gate, err = acceptgate.Listen(ctx, "tcp4", serverHost(cfg.Net)+":0", opts...)
		return err
	})
	if err != nil {
		return PhaseReport{}, err
	}
	var servers sync.WaitGroup
	defer func() {
		gate.Close()
		servers.Wait()
	}()
	serveLines(&servers, gate)
	switch phase {
	case "paused", "paused-then-resumed", "half-gave-up", "half-gave-up-skip":
		err = onServer(cfg.Net, gate.Pause)
	case "rejecting":
		err = onServer(cfg.Net, gate.Reject)
	}
	if err != nil {
		return PhaseReport{}, err
	}

	start := time.Now()
	// The phase ends for every client at the same moment; a client still
	// waiting for its answer then counts as waiting. After a Resume, the
	// phase lasts long enough for a client whose SYNs were dropped to
	// retransmit (at 1 s, then 3 s), connect and be answered.
	end := start.Add(cfg.Hold)
	resumes, halfGiveUp, clients := false, false, cfg.Clients
	switch phase {
	case "paused-then-resumed":
		resumes = true
		end = start.Add(cfg.ResumeAfter + 2*cfg.ConnectTimeout + time.Second)
	case "half-gave-up", "half-gave-up-skip":
		resumes, halfGiveUp, clients = true, true, cfg.Backlog
		end = start.Add(cfg.ResumeAfter + cfg.Hold)
	}
	rep := PhaseReport{Phase: phase, Backlog: cfg.Backlog, Clients: clients, Outcomes: map[string]int{}}

	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for now := time.Now(); now.Before(end); now = time.Now() {
			if q, err := backlog.Of(gate); err == nil {
				rep.Queue = append(rep.Queue, QueueSample{At: now.Sub(start), Len: q.Len})
			}
			time.Sleep(cfg.Sample)
		}
	}()
	if resumes {
		resumed := make(chan struct{})
		resume := time.AfterFunc(cfg.ResumeAfter, func() {
			defer close(resumed)
			onServer(cfg.Net, gate.Resume)
		})
		defer func() {
			if !resume.Stop() {
				<-resumed // before the gate closes, and a Net with it
			}
		}()
	}

	// Every client connects at once and waits for its answer until the
	// phase ends: tcp4, as the gate listens on 127.0.0.1.
	hello := probe{network: "tcp4", dial: dialer(cfg.Net), connectTimeout: cfg.ConnectTimeout, deadline: end, request: "hello\n"}
	leaver := hello
	if halfGiveUp {
		leaver.giveUpAt = start.Add(cfg.ResumeAfter / 2)
	}
	results := make([]attempt, clients)
	var running sync.WaitGroup
	for i := range results {
		running.Add(1)
		go func() {
			defer running.Done()
			p := hello
			if i%2 == 0 {
				p = leaver
			}
			results[i] = p.run(gate.Addr().String())
		}()
	}
	running.Wait()
	<-sampled
	st := gate.Stats()
	rep.Received, rep.Aborted = st.Accepted, st.Aborted

	var connects, firsts []time.Duration
	for _, r := range results {
		rep.Outcomes[r.outcome.String()]++
		if r.connect > 0 {
			connects = append(connects, r.connect)
		}
		if r.first > 0 {
			firsts = append(firsts, r.first)
		}
	}
	rep.ConnectP50, rep.ConnectP99 = percentile(connects, 0.5), percentile(connects, 0.99)
	rep.FirstP50, rep.FirstP99 = percentile(firsts, 0.5), percentile(firsts, 0.99)
	return rep, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(p*float64(len(ds)-1))]
}
