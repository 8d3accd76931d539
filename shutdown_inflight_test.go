package acceptgate_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// heldListener wraps a real TCP listener and holds each connection its
// Accept took from the kernel until the test lets it go: the moment
// between the wrapped Accept returning and the gate wrapping and counting
// the connection, which a Close can fall into on any listener.
type heldListener struct {
	net.Listener
	took    chan struct{}
	release chan struct{}
}

func (h *heldListener) Accept() (net.Conn, error) {
	c, err := h.Listener.Accept()
	if err == nil {
		h.took <- struct{}{}
		<-h.release
	}
	return c, err
}

// A Shutdown whose context has ended closes the Listener and every
// connection it handed out: its doc says nothing it handed out is left
// open. An Accept that had taken a client from the kernel just before the
// Close must then not hand out a live tracked connection after Shutdown
// returned, one that Stats counts as active and nothing will close: either
// it returns an error or the connection it returns is closed.
func TestShutdownLeavesNoConnFromAnAcceptUnderWay(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &heldListener{Listener: tcp, took: make(chan struct{}), release: make(chan struct{})}
	g := acceptgate.Wrap(h, acceptgate.WithTracking())
	var once sync.Once
	let := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(let)

	ch := acceptAsync(t, g)
	client := dial(t, g.Addr())
	defer client.Close()
	select {
	case <-h.took: // the wrapped Accept has the client; the gate has not counted it
	case <-time.After(patience):
		t.Fatal("the wrapped Accept took no client")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = g.Shutdown(ctx)
	var fe *acceptgate.ForcedCloseError
	if err != nil && !errors.As(err, &fe) {
		require.NoError(t, err)
	}
	let()

	r := receive(t, ch)
	if r.err != nil {
		assert.ErrorIs(t, r.err, net.ErrClosed)
		return
	}
	defer r.c.Close()
	_, werr := r.c.Write([]byte("x"))
	assert.ErrorIs(t, werr, net.ErrClosed,
		"Accept handed out an open tracked connection after Shutdown (%v) returned", err)
	assert.EqualValues(t, 0, g.Stats().Active,
		"a connection is active after Shutdown said all were closed")
}
