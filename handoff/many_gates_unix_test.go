//go:build unix

package handoff_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// The gates are prepared, adopted, activated and let go of side by side;
// these tests make one gate of the most an offer holds fail at each of
// those steps and check that all of them roll back, under load.
const manyGates = 64

// noDeadline hides a listener's SetDeadline: a gate around it cannot be
// paused strictly, so it cannot be handed over.
type noDeadline struct{ net.Listener }

// manyOldGates makes manyGates accepting gates on 127.0.0.1, each served
// as "old", the one named bad (if any) around a listener that cannot be
// handed over, and clients asking every gate from the start.
func manyOldGates(t *testing.T, bad string) (map[string]*acceptgate.Listener, *load) {
	t.Helper()
	gates := make(map[string]*acceptgate.Listener, manyGates)
	var targets [][2]string
	for i := range manyGates {
		name := fmt.Sprintf("g%02d", i)
		var g *acceptgate.Listener
		if name == bad {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			g = acceptgate.Wrap(noDeadline{ln})
		} else {
			var err error
			g, err = acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
		}
		gates[name] = g
		t.Cleanup(serveLines(g, "old"))
		targets = append(targets, [2]string{"tcp", g.Addr().String()})
	}
	return gates, startLoad(targets, 8)
}

// assertAllServeAgain checks that every gate accepts again (the offer
// rolls back once it has told the taker), takes transitions again (no
// handoff is left holding it) and serves its clients here.
func assertAllServeAgain(t *testing.T, gates map[string]*acceptgate.Listener) {
	t.Helper()
	for name, g := range gates {
		eventually(t, func() bool { return g.State() == acceptgate.Accepting }, "gate "+name+" to accept again")
		assert.NoError(t, g.Pause(), "gate %s", name)
		assert.NoError(t, g.Resume(), "gate %s", name)
		assertServedBy(t, "old", "tcp", g.Addr().String())
	}
}

// One gate of 64 that cannot be prepared refuses the whole exchange: the
// 63 the offer had paused beside it accept again, and no client is lost.
func TestOneOfManyGatesThatCannotBePausedRollsBackAll(t *testing.T) {
	gates, l := manyOldGates(t, "g37")
	path, _ := offer(t, gates)
	tk, err := handoff.Take(context.Background(), path)
	if err == nil {
		tk.Abort()
	}
	require.ErrorIs(t, err, handoff.ErrRefused)
	assert.ErrorContains(t, err, "gate g37")
	assertAllServeAgain(t, gates)
	l.end(t)
}

// One gate of 64 that the new process cannot put in its state (closed
// there before Commit) has it step back whole: the old process serves all
// 64 again, and no client is lost.
func TestOneOfManyGatesThatCannotBeActivatedRollsBackAll(t *testing.T) {
	gates, l := manyOldGates(t, "")
	path, _ := offer(t, gates)
	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err)
	taken := tk.Listeners()
	require.Len(t, taken, manyGates)
	for _, g := range taken {
		t.Cleanup(serveLines(g, "new"))
	}
	require.NoError(t, taken["g37"].Close())
	err = tk.Commit(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "gate g37")
	for name, g := range taken {
		assert.Equal(t, acceptgate.Closed, g.State(), "the new process's gate %s", name)
	}
	assertAllServeAgain(t, gates)
	l.end(t)
}

// One socket of 64 that does not match its description has the taker
// refuse them all: the 63 it had adopted beside it are let go of untouched
// (still listening, a unix socket's file still there), and it keeps no
// descriptor.
func TestOneOfManySocketsThatCannotBeAdoptedRollsBackAll(t *testing.T) {
	dir := shortDir(t)
	var sockets []map[string]any
	var files []*os.File
	var listeners []net.Listener
	for i := range manyGates {
		name := fmt.Sprintf("g%02d", i)
		var ln net.Listener
		var err error
		network := "tcp4"
		if i%2 == 0 {
			network = "unix"
			ln, err = net.Listen("unix", filepath.Join(dir, name+".sock"))
		} else {
			ln, err = net.Listen("tcp4", "127.0.0.1:0")
		}
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		listeners = append(listeners, ln)
		address := ln.Addr().String()
		if name == "g37" {
			address = "127.0.0.1:1" // not where the descriptor is
		}
		sockets = append(sockets, map[string]any{"name": name, "network": network, "address": address,
			"state": "accepting", "own": true, "files": 1})
		files = append(files, listenerFile(t, ln.(interface{ File() (*os.File, error) })))
	}
	path, answer := fakeOffer(t, sockets, files)
	before := openFiles(t)
	tk, err := handoff.Take(context.Background(), path)
	if err == nil {
		tk.Abort()
	}
	require.Error(t, err)
	assert.ErrorContains(t, err, `"g37"`)
	assert.False(t, errors.Is(err, handoff.ErrRefused), "the taker refused, not the offer: %v", err)
	assert.NotEqual(t, "ready", <-answer)
	eventually(t, func() bool { return openFiles(t) <= before }, "the descriptors received to be closed")
	for _, ln := range listeners {
		addr := ln.Addr()
		if ua, ok := addr.(*net.UnixAddr); ok {
			_, err := os.Lstat(ua.Name)
			assert.NoError(t, err, "the file of %s", ua.Name)
		}
		c, err := net.Dial(addr.Network(), addr.String())
		if !assert.NoError(t, err, "dial %s", addr) {
			continue
		}
		c.Close()
		a, err := ln.Accept()
		if assert.NoError(t, err, "accept on %s", addr) {
			a.Close()
		}
	}
}
