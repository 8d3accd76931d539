//go:build unix

package acceptgate_test

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"net"
)

// Closing a rejecting unix gate gives its path back to the listener so that
// the listener's Close removes it; a client that connects in between must
// be refused, not admitted into a queue that the close then resets.
func TestCloseRejectingUnixAdmitsNobody(t *testing.T) {
	const rounds, dialers = 20, 4
	admitted := 0
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "gate.sock")
		l := listen(t, "unix", path)
		require.NoError(t, l.Reject())

		var stop atomic.Bool
		var tries, connected atomic.Int64
		var wg sync.WaitGroup
		for range dialers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100000 && !stop.Load(); i++ {
					tries.Add(1)
					if c, err := net.DialTimeout("unix", path, patience); err == nil {
						connected.Add(1)
						c.Close()
					}
				}
			}()
		}
		eventually(t, func() bool { return tries.Load() >= 4*dialers }, "the clients dial")
		require.NoError(t, l.Close())
		time.Sleep(0) // let dialers that raced the close finish their connect
		stop.Store(true)
		wg.Wait()
		if n := connected.Load(); n > 0 {
			t.Logf("round %d: %d clients connected while the gate closed", round, n)
			admitted += int(n)
		}
	}
	assert.Zero(t, admitted, "clients that connected to a gate that was rejecting and closing")
}
