//go:build unix

package handoff_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate/internal/faults"
)

// forceStop makes the next Reject stop its socket rather than fence it, so
// that it takes the queue out as pending connections.
func forceStop(t *testing.T) (disarm func()) {
	t.Helper()
	d := faults.Arm(faults.Fence, 1, errForced)
	return func() { d() }
}

type forced struct{}

func (forced) Error() string { return "fence made to fail by the test" }

var errForced error = forced{}

func deadline() time.Time { return time.Now().Add(patience) }

func readLine(c net.Conn) (string, error) { return bufio.NewReader(c).ReadString('\n') }

func TestMain(m *testing.M) { mainWithChild(m) }
