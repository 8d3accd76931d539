package control_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestSilentClientsLeaveRoomForTheOperator: clients without the token that
// connect and send nothing, as many as the listener admits, must not keep
// an operator with the token out for as long as they like.
//
// Finding (review, issue 19 item 14): they do. The connection bound moved
// the exhaustion from the process's descriptors to the admin API itself:
// DefaultMaxConns silent clients hold every slot for the request timeout
// (10 s), the operator waits in the kernel's queue behind every client that
// connected before it, and a local user who reconnects as fast as slots free
// keeps the API out of reach for good. The served port is unharmed. Fixing
// it means telling the operator apart before its request is read (a slot
// kept for the unix socket or for a peer of this uid, SO_PEERCRED on
// loopback TCP being unavailable), or shedding the oldest connection that
// has not yet sent a full request when a new one waits: a change of the
// admission mechanism, not contained here. Meanwhile: a unix admin socket,
// which no other user can reach, is not exposed to it.
func TestSilentClientsLeaveRoomForTheOperator(t *testing.T) {
	t.Skip("finding: silent clients hold every admin connection; see the comment")
	const token = "operator-0123456789"
	h := control.NewHandler(control.WithToken(token), quiet)
	ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", h, nil)
	require.NoError(t, err)
	srv := control.NewServer(h)
	go srv.Serve(ln)
	defer srv.Close()

	for range control.DefaultMaxConns + 8 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		defer c.Close()
	}
	client := &http.Client{Timeout: 3 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/listeners", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	require.NoError(t, err, "the operator is answered within 3 s")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
