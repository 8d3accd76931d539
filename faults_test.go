package acceptgate_test

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

func TestTemporaryErrorsPassThroughAndPauseStillWorks(t *testing.T) {
	inner := &failingListener{}
	l := acceptgate.Wrap(inner)
	_, err := l.Accept()
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the server sees the inner error and backs off")
	assert.ErrorIs(t, err, syscall.EMFILE)

	require.NoError(t, l.Pause())
	before := inner.Calls()
	ch := acceptAsync(t, l)
	notYet(t, ch, "Accept while paused, even with the inner listener failing")
	assert.Equal(t, before, inner.Calls(), "a paused gate does not call the inner Accept")

	require.NoError(t, l.Resume())
	r := receive(t, ch)
	assert.ErrorIs(t, r.err, syscall.EMFILE, "errors flow again after Resume")
}

func TestListenerClosedUnderneath(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	l := acceptgate.Wrap(inner)
	ch := acceptAsync(t, l)
	blockedInKernelAccept(t)
	require.NoError(t, inner.Close()) // behind the gate's back

	r := receive(t, ch)
	assert.ErrorIs(t, r.err, net.ErrClosed, "Accept reports the closed socket, so Serve returns")
	assert.NoError(t, l.Pause(), "Pause needs nothing from the socket")
	err = l.Reject()
	assert.Error(t, err, "Reject cannot drain a closed socket")
	assert.Equal(t, acceptgate.Paused, l.State(), "a failed Reject changes nothing")
	assert.NoError(t, l.Resume())
	assert.Error(t, l.Close(), "closing the closed socket is reported")
	assert.Equal(t, acceptgate.Closed, l.State())
}

// TestCloseRacesWithTransitions closes the gate while many goroutines flip
// it and one accepts: whatever the interleaving, it ends closed, Accept
// returns net.ErrClosed, later transitions fail, and no goroutine is left.
func TestCloseRacesWithTransitions(t *testing.T) {
	for round := range 20 {
		l := listenTCP(t)
		accepted := make(chan error, 1)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					accepted <- err
					return
				}
				c.Close()
			}
		}()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(i)))
				<-start
				for range 50 {
					var err error
					switch rng.IntN(3) {
					case 0:
						err = l.Pause()
					case 1:
						err = l.Reject()
					default:
						err = l.Resume()
					}
					if err != nil && !errors.Is(err, net.ErrClosed) {
						t.Errorf("transition: %v", err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			assert.NoError(t, l.Close())
		}()
		close(start)
		wg.Wait()
		assert.Equal(t, acceptgate.Closed, l.State())
		assert.ErrorIs(t, <-accepted, net.ErrClosed)
		assert.ErrorIs(t, l.Resume(), net.ErrClosed)
	}
}
