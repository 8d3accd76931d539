package acceptgate_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A queued client does one of these before the gate lets it through.
type clientAct int

const (
	leaves clientAct = iota // closes without sending anything
	resets                  // closes with SO_LINGER 0: the kernel sends RST (TCP only)
	asks                    // sends its tag, then CloseWrite: it waits for the answer
	waits                   // stays connected and silent until it is accepted
	talks                   // sends its tag and stays connected
)

func (a clientAct) gaveUp() bool { return a == leaves || a == resets }

type queuedClient struct {
	act clientAct
	tag string
	c   net.Conn
}

// TestSkipAbortedDeliversOnlyClientsStillThere queues clients behind a paused
// gate; some give up, some ask and half-close, some stay. With
// WithSkipAborted, Accept (after Resume, or from what Reject took out) returns
// exactly the clients that may still want an answer and counts the others in
// Stats().Aborted; without it, every client is returned. WithMaxConns is set
// to the number to be served, so a skipped connection that kept its slot
// would block the last Accept.
func TestSkipAbortedDeliversOnlyClientsStillThere(t *testing.T) {
	for _, nw := range loopbackNetworks(t) {
		for _, tc := range []struct {
			name   string
			skip   bool
			reject bool // clients give up after Reject took them out of the kernel
		}{
			{name: "off/resume", skip: false},
			{name: "on/resume", skip: true},
			{name: "off/reject", skip: false, reject: true},
			{name: "on/reject", skip: true, reject: true},
		} {
			t.Run(nw.name+"/"+tc.name, func(t *testing.T) {
				acts := []clientAct{leaves, asks, waits, resets, talks, leaves, asks, waits, resets, talks}
				if nw.name == "unix" {
					acts = slices.DeleteFunc(acts, func(a clientAct) bool { return a == resets })
				}
				skipping := tc.skip && onLinux // elsewhere the option changes nothing
				var served []string
				for i, a := range acts {
					switch {
					case !a.gaveUp():
						served = append(served, tag(a, i))
					case !skipping:
						served = append(served, "") // delivered, with nothing to read
					}
				}
				opts := []acceptgate.Option{acceptgate.WithMaxConns(len(served))}
				if tc.skip {
					opts = append(opts, acceptgate.WithSkipAborted())
				}
				l := listen(t, nw.name, nw.address(t), opts...)
				require.NoError(t, l.Pause())

				clients := make([]queuedClient, len(acts))
				for i, a := range acts {
					clients[i] = queuedClient{act: a, tag: tag(a, i), c: dial(t, l.Addr())}
					if _, ok := kernelQueue(t, l); ok {
						eventually(t, func() bool { q, _ := kernelQueue(t, l); return q == i+1 }, "client %d queued", i)
					}
				}
				if tc.reject {
					require.NoError(t, l.Reject())
				}
				for _, qc := range clients {
					act(t, qc)
				}
				for _, qc := range clients {
					if qc.act.gaveUp() {
						waitGaveUpSeen(t, l, qc.c, qc.act == resets)
					}
				}
				if !tc.reject {
					require.NoError(t, l.Resume())
				}

				var got []net.Conn
				for range served {
					r := receive(t, acceptAsync(t, l))
					require.NoError(t, r.err)
					got = append(got, r.c)
				}
				for _, qc := range clients {
					if qc.act == waits {
						fmt.Fprintf(qc.c, "%s\n", qc.tag)
					}
				}
				var tags []string
				for _, c := range got {
					tags = append(tags, readTag(t, c))
				}
				assert.ElementsMatch(t, served, tags, "the connections Accept returned")
				st := l.Stats()
				assert.EqualValues(t, len(acts)-len(served), st.Aborted, "skipped")
				assert.EqualValues(t, len(served), st.Accepted)
				assert.Equal(t, 0, st.Pending)

				// The slots are all taken by the served; closing them lets the
				// next client through, and nothing was left before it.
				for _, c := range got {
					require.NoError(t, c.Close())
				}
				if tc.reject {
					require.NoError(t, l.Resume())
				}
				late := dial(t, l.Addr())
				fmt.Fprintf(late, "late\n")
				r := receive(t, acceptAsync(t, l))
				require.NoError(t, r.err)
				assert.Equal(t, "late", readTag(t, r.c))
				r.c.Close()
				assert.EqualValues(t, 0, l.Stats().Active)

				if skipping {
					for _, qc := range clients {
						if qc.act == leaves {
							waitServerSideClosed(t, l, qc.c)
						}
					}
				}
			})
		}
	}
}

func tag(a clientAct, i int) string { return fmt.Sprintf("client-%d-act-%d", i, a) }

func act(t *testing.T, qc queuedClient) {
	t.Helper()
	switch qc.act {
	case leaves:
		require.NoError(t, qc.c.Close())
	case resets:
		require.NoError(t, qc.c.(*net.TCPConn).SetLinger(0))
		require.NoError(t, qc.c.Close())
	case asks:
		_, err := fmt.Fprintf(qc.c, "%s\n", qc.tag)
		require.NoError(t, err)
		require.NoError(t, qc.c.(interface{ CloseWrite() error }).CloseWrite())
	case talks:
		_, err := fmt.Fprintf(qc.c, "%s\n", qc.tag)
		require.NoError(t, err)
	}
}

// readTag reads the line a client sent; a client that gave up sent none.
func readTag(t *testing.T, c net.Conn) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(patience)))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "a client that is still there sends its tag")
		return ""
	}
	return line[:len(line)-1]
}
