package control_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// agentRig serves the agent of a Handler with two gates on loopback.
type agentRig struct {
	h      *control.Handler
	a, b   *acceptgate.Listener
	addr   string
	served chan error
	ln     net.Listener
}

func newAgentRig(t *testing.T) *agentRig {
	t.Helper()
	ctx := context.Background()
	r := &agentRig{h: control.NewHandler(quiet), served: make(chan error, 1)}
	var err error
	for _, g := range []struct {
		name string
		gate **acceptgate.Listener
	}{{"a", &r.a}, {"b", &r.b}} {
		*g.gate, err = acceptgate.Listen(ctx, "tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { (*g.gate).Close() })
		require.NoError(t, r.h.Register(g.name, *g.gate))
	}
	r.ln, err = net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	r.addr = r.ln.Addr().String()
	go func() { r.served <- r.h.ServeAgent(r.ln) }()
	t.Cleanup(func() {
		r.ln.Close()
		<-r.served
	})
	return r
}

// ask is what a checker reads from the agent, as HAProxy's agent check
// reads it: connect, optionally send, read to the end.
func (r *agentRig) ask(t *testing.T, send string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp4", r.addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if send != "" {
		_, err = io.WriteString(c, send)
		require.NoError(t, err)
	}
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the agent closes cleanly, without a reset")
	return string(b)
}

// The agent answers from the gates' states and the drain: ready, drain
// while one pauses, maint while one rejects, drain once a drain is asked
// for, whatever the gates do then.
func TestAgentAnswersFromTheGates(t *testing.T) {
	r := newAgentRig(t)
	assert.Equal(t, "ready\n", r.ask(t, ""))
	require.NoError(t, r.b.Reject())
	assert.Equal(t, "maint\n", r.ask(t, ""), "a gate rejects")
	require.NoError(t, r.a.Pause())
	assert.Equal(t, "drain\n", r.ask(t, ""), "a gate pauses: its clients wait, so no new sessions, those under way finish")
	require.NoError(t, r.a.Resume())
	require.NoError(t, r.b.Resume())
	assert.Equal(t, "ready\n", r.ask(t, "hello agent\n"), "what the checker sends is read and ignored")
	_, err := r.h.Drain(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "drain\n", r.ask(t, ""), "a drain was asked for")
	require.NoError(t, r.b.Reject())
	assert.Equal(t, control.AgentDrain, r.h.AgentReply(), "a drain is never undone, whatever the gates do")
}

// A closed gate is the end of the process, for the health check to
// notice, not an operator's decision: the agent does not take the server
// out for it.
func TestAgentIgnoresAClosedGate(t *testing.T) {
	r := newAgentRig(t)
	require.NoError(t, r.a.Close())
	assert.Equal(t, "ready\n", r.ask(t, ""))
}

// ServeAgent returns once its listener is closed, with an error wrapping
// net.ErrClosed, and leaves no connection behind (goleak).
func TestServeAgentReturnsOnClose(t *testing.T) {
	h := control.NewHandler(quiet)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- h.ServeAgent(ln) }()
	// A checker that connects and sends nothing more, holding the
	// connection open: ServeAgent waits for it only as long as its
	// deadline, at most.
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	line := make([]byte, len("ready\n"))
	_, err = io.ReadFull(c, line)
	require.NoError(t, err)
	assert.Equal(t, "ready\n", string(line))
	require.NoError(t, ln.Close())
	select {
	case err := <-served:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("ServeAgent did not return after its listener closed")
	}
}
