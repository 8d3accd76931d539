//go:build unix

package handoff_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"syscall"
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
// Finding (review, issue 19 item 13's question "two serving?"): it does.
// The offer rolls back on any failure to hear "accepting", a timeout as
// much as the taker's death, and says so; a real Takeover that hears that
// refusal after its go keeps serving (Commit: "the old process may serve on
// too"). In serve both generations then serve the sockets, admin socket
// included, for good: the old one rolled back and never exits, and the new
// one cannot offer at the path the old one still holds. A Pause sent to
// either pauses only its own copy. Telling a slow taker from a dead one
// (EOF or reset versus a timeout) after the go, and having the taker step
// back when it hears a rollback after its go, changes both sides of the
// exchange; not contained here.
func TestALateAcceptingAfterTheGoLeavesOneProcessServing(t *testing.T) {
	t.Skip("finding: the old process rolls back after its go when accepting is late, and both serve; see the comment")
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": old}, handoff.WithTimeout(500*time.Millisecond))

	c, err := net.Dial("unixpacket", path)
	require.NoError(t, err)
	uc := c.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(patience))
	send := func(op string) {
		b, _ := json.Marshal(map[string]any{"op": op, "version": handoff.Version})
		_, err := uc.Write(b)
		require.NoError(t, err)
	}
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	recv := func(want string) {
		buf, oob := make([]byte, 1<<16), make([]byte, 4096)
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		require.NoError(t, err)
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		require.NoError(t, err)
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			require.NoError(t, err)
			for _, fd := range fds {
				held = append(held, os.NewFile(uintptr(fd), "taken"))
			}
		}
		var m struct{ Op string }
		require.NoError(t, json.Unmarshal(buf[:n], &m))
		require.Equal(t, want, m.Op, "%s", buf[:n])
	}
	send("hello")
	recv("sockets")
	require.NotEmpty(t, held)
	send("ready") // holding the sockets, serving
	recv("go")
	// This taker now serves; its "accepting" is slower than the offer's
	// step timeout, and what comes first is the offer's word.
	recv("error")
	// The word comes before the rollback: watch the state for a while.
	assert.Never(t, func() bool { return old.State() == acceptgate.Accepting }, time.Second, 10*time.Millisecond,
		"the old process serves again beside a taker it told go")
}
