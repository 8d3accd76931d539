//go:build unix

package handoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// TestALateAcceptingAfterTheGoLeavesOneProcessServing: a taker that said
// ready (it holds every socket and serves) and was told go, and whose
// "accepting" comes later than the offer's step timeout, is still there and
// serving. The old process must then not serve the sockets again beside it.
//
// It did until issue 19 asked whether two could be serving: the offer
// rolled back on any failure to hear "accepting", a timeout as much as the
// taker's death, and a Takeover that heard that after its go kept serving,
// so that both generations served for good. After the go a silence proves
// nothing: the old process stays strictly paused through it, within three
// step timeouts, and the late accepting hands the sockets over.
func TestALateAcceptingAfterTheGoLeavesOneProcessServing(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	const step = time.Second
	path, served := offer(t, map[string]*acceptgate.Listener{"g": old}, handoff.WithTimeout(step))

	tk := dialRaw(t, path)
	tk.send(t, "hello")
	tk.recv(t, "sockets")
	require.NotEmpty(t, tk.held)
	tk.send(t, "ready") // holding the sockets, serving
	tk.recv(t, "go")
	// This taker now serves; its "accepting" is slower than the offer's
	// step timeout, well within three.
	assert.Never(t, func() bool { return old.State() == acceptgate.Accepting }, 2*step, 10*time.Millisecond,
		"the old process serves again beside a taker it told go")
	tk.send(t, "accepting")
	tk.recv(t, "done")
	require.NoError(t, served())
	assert.Equal(t, acceptgate.Closed, old.State(), "the sockets are the taker's alone")
}
