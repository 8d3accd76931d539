package acceptgate_test

import (
	"testing"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
)

// kernelQueue returns how many connections wait in l's accept queue, as the
// kernel counts them, and whether it could tell (package backlog's tests
// check its figures against ss).
func kernelQueue(t *testing.T, l *acceptgate.Listener) (int, bool) {
	t.Helper()
	q, err := backlog.Of(l)
	if err != nil {
		return 0, false
	}
	return q.Len, true
}
