//go:build unix

package handoff_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// Serve called again after its context ended answers the next taker: the
// past deadline that woke the first one is not left on the offer socket.
func TestServeAgainAfterItsContextEnded(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	path := filepath.Join(shortDir(t), "handoff.sock")
	o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": old})
	require.NoError(t, err)
	defer o.Close()
	served := make(chan error, 1)
	serve := func(ctx context.Context) { go func() { served <- o.Serve(ctx) }() }
	result := func() error {
		select {
		case err := <-served:
			return err
		case <-time.After(patience):
			t.Fatal("Serve did not return")
			return nil
		}
	}

	first, cancel := context.WithCancel(context.Background())
	serve(first)
	cancel()
	require.ErrorIs(t, result(), context.Canceled)

	serve(context.Background())
	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err, "the second Serve answers")
	g := tk.Listeners()["g"]
	defer g.Close()
	stopNew := serveLines(g, "new")
	defer stopNew()
	require.NoError(t, tk.Commit(context.Background()))
	require.NoError(t, result())
	assertServedBy(t, "new", "tcp", old.Addr().String())
}

// An old process out of descriptors at the instant a taker connects (its
// accept fails with EMFILE) logs it, tries again, and answers the taker once
// it has descriptors again: it can still be upgraded.
func TestServeWaitsOutAnAcceptThatFailsForWantOfDescriptors(t *testing.T) {
	path := filepath.Join(shortDir(t), "handoff.sock")
	p, addr := startOfferer(t, path)
	// No client before the starving: a connection the old process closed
	// just after would leave a free descriptor under the limit.
	p.say(t, "starve")
	require.Equal(t, "starved", p.line(t))

	type taken struct {
		tk  *handoff.Takeover
		err error
	}
	took := make(chan taken, 1)
	go func() {
		tk, err := handoff.Take(context.Background(), path)
		took <- taken{tk, err}
	}()
	retry := p.lineWith(t, "retrying")
	assert.Contains(t, retry, "too many open files")
	p.say(t, "feed")
	p.lineWith(t, "fed")

	var got taken
	select {
	case got = <-took:
	case <-time.After(patience):
		t.Fatal("Take was not answered")
	}
	require.NoError(t, got.err)
	g := got.tk.Listeners()["g"]
	defer g.Close()
	stopNew := serveLines(g, "new")
	defer stopNew()
	require.NoError(t, got.tk.Commit(context.Background()))
	assert.Equal(t, "served: closed=false: <nil>", p.lineWith(t, "served:"))
	assertServedBy(t, "new", "tcp", addr)
}

// Serve waiting out an accept that fails still ends at once on Close.
func TestServeThatWaitsOutAFailingAcceptEndsOnClose(t *testing.T) {
	path := filepath.Join(shortDir(t), "handoff.sock")
	p, _ := startOfferer(t, path)
	p.say(t, "starve")
	require.Equal(t, "starved", p.line(t))
	took := make(chan error, 1)
	go func() {
		_, err := handoff.Take(context.Background(), path)
		took <- err
	}()
	p.lineWith(t, "retrying")
	p.say(t, "close")
	served := p.lineWith(t, "served:")
	assert.True(t, strings.HasPrefix(served, "served: closed=true: "), served)
	select {
	case err := <-took:
		assert.Error(t, err, "nobody answered the taker")
	case <-time.After(patience):
		t.Fatal("Take did not return once the offer closed")
	}
}
