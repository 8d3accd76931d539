//go:build linux

package bench_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/internal/bench"
)

// TestBacklogExperimentShowsWhatClientsLiveThrough runs the experiment small
// and checks the kernel facts it exists to show.
func TestBacklogExperimentShowsWhatClientsLiveThrough(t *testing.T) {
	const backlog, clients = 4, 12
	reports, err := bench.BacklogExperiment(context.Background(), bench.BacklogConfig{Backlog: backlog, Clients: clients})
	require.NoError(t, err)
	require.Len(t, reports, len(bench.Phases))
	by := map[string]bench.PhaseReport{}
	for _, r := range reports {
		by[r.Phase] = r
		t.Logf("%s: %v", r.Phase, r.Outcomes)
		assert.Zero(t, r.Outcomes[bench.OutcomeReset], "%s: nobody is reset", r.Phase)
	}
	assert.Equal(t, clients, by["accepting"].Outcomes[bench.OutcomeServed])

	paused := by["paused"]
	// backlog+1 connections fill the queue; a client whose handshake the
	// kernel answered before the queue was full also sees its connect
	// succeed, though its final ACK waits for room (SYN_RECV).
	waiting := paused.Outcomes[bench.OutcomeWaiting]
	assert.GreaterOrEqual(t, waiting, backlog+1, "backlog+1 clients wait in the queue")
	assert.LessOrEqual(t, waiting, backlog+3)
	assert.Equal(t, clients-waiting, paused.Outcomes[bench.OutcomeTimedOut], "the rest have their SYNs dropped")
	maxQueue := 0
	for _, s := range paused.Queue {
		maxQueue = max(maxQueue, s.Len)
	}
	// The kernel checks for room and adds to the queue without a lock
	// between: two handshakes completing at once on two CPUs may both find
	// room for one, and the queue holds backlog+2 now and then.
	assert.GreaterOrEqual(t, maxQueue, backlog+1, "the sampled queue")
	assert.LessOrEqual(t, maxQueue, backlog+2, "the sampled queue")

	assert.Equal(t, clients, by["rejecting"].Outcomes[bench.OutcomeRefused], "refused at once")

	assert.Equal(t, clients, by["paused-then-resumed"].Outcomes[bench.OutcomeServed], "every waiting client served after resume")

	// backlog clients queue, and the even half of them give up before
	// Resume: without WithSkipAborted the server receives them all.
	for phase, want := range map[string]struct{ received, aborted uint64 }{
		"half-gave-up":      {received: backlog, aborted: 0},
		"half-gave-up-skip": {received: backlog / 2, aborted: backlog / 2},
	} {
		r := by[phase]
		assert.Equal(t, backlog, r.Clients, phase)
		assert.Equal(t, backlog/2, r.Outcomes[bench.OutcomeGaveUp], phase)
		assert.Equal(t, backlog/2, r.Outcomes[bench.OutcomeServed], "%s: the clients that stayed are served", phase)
		assert.Equal(t, want.received, r.Received, "%s: what the server's Accept returned", phase)
		assert.Equal(t, want.aborted, r.Aborted, "%s: closed by the gate", phase)
	}
}
