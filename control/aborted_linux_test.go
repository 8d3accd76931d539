package control_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// TestViewCountsClientsThatGaveUp: a client that left the queue of a paused
// gate with WithSkipAborted shows in the view's aborted, not in accepted. A
// unix socket's peer learns of a close within the close call, so the test
// needs no wait for it.
func TestViewCountsClientsThatGaveUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.sock")
	g, err := acceptgate.Listen(context.Background(), "unix", path, acceptgate.WithSkipAborted())
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	h := control.NewHandler(quiet)
	require.NoError(t, h.Register("web", g))

	require.NoError(t, g.Pause())
	gone, err := net.Dial("unix", path)
	require.NoError(t, err)
	require.NoError(t, gone.Close())
	stays, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer stays.Close()
	require.NoError(t, g.Resume())
	c, err := g.Accept()
	require.NoError(t, err)
	c.Close()

	resp, obj, _ := call{method: "GET", path: "/v1/listeners/web"}.do(h)
	require.Equal(t, 200, resp.StatusCode, obj)
	assert.EqualValues(t, 1, obj["aborted"])
	assert.EqualValues(t, 1, obj["accepted"])
}
