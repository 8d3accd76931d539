package acceptgate_test

import (
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A gate released to another process still delivers the connections Reject
// took out of the kernel. An Accept waiting for a slot to deliver one of
// them returns net.ErrClosed when the gate is closed, without waiting for a
// connection to close.
func TestCloseWakesAcceptWaitingToDeliverOnAReleasedGate(t *testing.T) {
	// In an SO_REUSEPORT group, Reject stops the socket and takes its queue
	// out into the gate.
	l := listenTCP(t, acceptgate.WithReusePort(), acceptgate.WithMaxConns(1))
	ch := acceptAsync(t, l)
	dial(t, l.Addr())
	held := receive(t, ch)
	require.NoError(t, held.err)
	require.NoError(t, l.Pause())
	queueClients(t, l, 1)
	require.NoError(t, l.Reject())
	require.Equal(t, 1, l.Stats().Pending, "the queued client taken out by Reject")

	_, files, err := side(l).Prepare()
	require.NoError(t, err)
	for _, f := range files {
		f.Close() // the other process's copies, not needed here
	}
	require.NoError(t, side(l).Release())
	require.Equal(t, acceptgate.Closed, l.State())

	waiting := acceptAsync(t, l)
	// Registered after acceptAsync's, so it runs first: should the test
	// fail, the free slot lets the waiting Accept go.
	t.Cleanup(func() { held.c.Close() })
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "acceptgate.(*Listener).acceptSlow")
	}, "Accept waiting for a slot to deliver the pending client")
	notYet(t, waiting, "a pending client past the limit")

	assert.ErrorIs(t, l.Close(), net.ErrClosed, "released: closed already")
	r := receive(t, waiting)
	assert.ErrorIs(t, r.err, net.ErrClosed)
	assert.Nil(t, r.c)
	assert.Zero(t, l.Stats().Pending, "Close closed the pending client")
}
