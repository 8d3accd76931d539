package acceptgate_test

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// Pause does not wait without bound, holding the state mutex, for an
// Accept that SetDeadline does not wake: it gives up after a while, and the
// connection that Accept takes later is delivered, not lost.
func TestPauseDoesNotHangOnAnAcceptItCannotWake(t *testing.T) {
	defer acceptgate.SetWakeWait(50 * time.Millisecond)()
	inner := &unwakeable{conns: make(chan net.Conn), closed: make(chan struct{})}
	l := acceptgate.Wrap(inner)
	t.Cleanup(func() { l.Close() })
	ch := acceptAsync(t, l)
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*unwakeable).Accept")
	}, "Accept blocked in the inner listener")

	paused := make(chan error, 1)
	go func() { paused <- l.Pause() }()
	select {
	case err := <-paused:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Pause hung")
	}
	assert.Equal(t, acceptgate.Paused, l.State())
	a, b := net.Pipe()
	defer b.Close()
	inner.conns <- a
	r := receive(t, ch)
	require.NoError(t, r.err)
	assert.Same(t, a, r.c, "delivered, not dropped")
	r.c.Close()
}
