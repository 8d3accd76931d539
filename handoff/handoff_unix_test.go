//go:build unix

package handoff_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

type endpoint struct {
	network string
	address func(t *testing.T) string
}

func endpoints() []endpoint {
	eps := []endpoint{
		{"tcp4", func(*testing.T) string { return "127.0.0.1:0" }},
		{"unix", func(t *testing.T) string { return filepath.Join(shortDir(t), "gate.sock") }},
	}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		eps = append(eps, endpoint{"tcp6", func(*testing.T) string { return "[::1]:0" }})
	}
	return eps
}

func dialNetwork(network string) string {
	if network == "unix" {
		return "unix"
	}
	return "tcp"
}

// Each state arrives as it was: an accepting gate serves in the new process,
// a paused one keeps its queued clients for the new process's Resume, a
// rejecting one refuses until the new process resumes it.
func TestHandOverKeepsTheState(t *testing.T) {
	for _, ep := range endpoints() {
		for _, state := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused, acceptgate.Rejecting} {
			t.Run(ep.network+"/"+state.String(), func(t *testing.T) {
				old, err := acceptgate.Listen(context.Background(), ep.network, ep.address(t))
				require.NoError(t, err)
				defer old.Close()
				addr := old.Addr().String()
				nw := dialNetwork(ep.network)
				stopOld := serveLines(old, "old")
				defer stopOld()
				var queued net.Conn
				switch state {
				case acceptgate.Paused:
					require.NoError(t, old.Pause())
					queued, err = net.Dial(nw, addr)
					require.NoError(t, err)
					defer queued.Close()
					_, err = queued.Write([]byte("queued\n"))
					require.NoError(t, err)
				case acceptgate.Rejecting:
					require.NoError(t, old.Reject())
				}

				path, served := offer(t, map[string]*acceptgate.Listener{"g": old})
				tk, err := handoff.Take(context.Background(), path)
				require.NoError(t, err)
				assert.Equal(t, os.Getpid(), tk.PID())
				g := tk.Listeners()["g"]
				require.NotNil(t, g)
				defer g.Close()
				stopNew := serveLines(g, "new")
				defer stopNew()
				require.NoError(t, tk.Commit(context.Background()))
				require.NoError(t, served())

				assert.Equal(t, acceptgate.Closed, old.State())
				assert.Equal(t, state, g.State())
				assert.Equal(t, addr, g.Addr().String())
				switch state {
				case acceptgate.Accepting:
					assertServedBy(t, "new", nw, addr)
				case acceptgate.Paused:
					assert.Equal(t, 1, g.Stats().Queued, "the queued client is still queued")
					require.NoError(t, g.Resume())
					queued.SetReadDeadline(deadline())
					got, err := readLine(queued)
					require.NoError(t, err)
					assert.Equal(t, "new:queued\n", got)
				case acceptgate.Rejecting:
					_, err := net.Dial(nw, addr)
					assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "dial a rejecting gate: %v", err)
					require.NoError(t, g.Resume())
					assertServedBy(t, "new", nw, addr)
				}
				require.NoError(t, g.Close())
				if ep.network == "unix" {
					_, err := os.Lstat(addr)
					assert.True(t, errors.Is(err, os.ErrNotExist), "the new process owns the path, and its Close removes it: %v", err)
				}
			})
		}
	}
}

func assertServedBy(t *testing.T, who, network, addr string) {
	t.Helper()
	got, err := ask(network, addr)
	require.NoError(t, err)
	assert.Equal(t, who+":hi\n", got)
}

// A taker that gives up leaves the old process serving as before, and the
// next taker can take the gates.
func TestAbortRollsBack(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	addr := old.Addr().String()
	path, served := offer(t, map[string]*acceptgate.Listener{"g": old})

	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, acceptgate.Paused, old.State(), "paused while the taker holds the socket")
	assert.Error(t, old.Resume(), "no transition while handing over")
	require.NoError(t, tk.Abort())
	eventually(t, func() bool { return old.State() == acceptgate.Accepting }, "the old gate to accept again")
	assertServedBy(t, "old", "tcp", addr)
	require.NoError(t, old.Pause())
	require.NoError(t, old.Resume(), "transitions work again")

	tk, err = handoff.Take(context.Background(), path)
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	stopNew := serveLines(g, "new")
	defer stopNew()
	require.NoError(t, tk.Commit(context.Background()))
	require.NoError(t, served())
	assertServedBy(t, "new", "tcp", addr)
}

// Connections a Reject took out of the kernel before the handoff are served
// by the old process, and Serve returns once they are.
func TestPendingServedByTheOldProcess(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	addr := old.Addr().String()
	require.NoError(t, old.Pause())
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("waiting\n"))
		require.NoError(t, err)
		clients = append(clients, c)
	}
	eventually(t, func() bool { return old.Stats().Queued == 3 }, "three clients queued")
	disarm := forceStop(t)
	require.NoError(t, old.Reject())
	disarm()
	require.Equal(t, 3, old.Stats().Pending, "Reject without a fence takes the queue out")

	path, served := offer(t, map[string]*acceptgate.Listener{"g": old})
	tk, err := handoff.Take(context.Background(), path)
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	require.NoError(t, tk.Commit(context.Background()))
	assert.Equal(t, acceptgate.Rejecting, g.State())

	stopOld := serveLines(old, "old") // the old process's server, still running
	defer stopOld()
	require.NoError(t, served(), "Serve returns once the pending clients are delivered")
	for _, c := range clients {
		c.SetReadDeadline(deadline())
		got, err := readLine(c)
		require.NoError(t, err)
		assert.Equal(t, "old:waiting\n", got)
	}
	_, err = old.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestListenRefusesAPathInUse(t *testing.T) {
	g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": g})
	_, err = handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": g})
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.True(t, strings.HasSuffix(path, "handoff.sock"))
}

// Close, or the end of Serve's context, during an exchange rolls it back,
// as their docs say: the taker's Commit fails and the old gate accepts
// again. The offer says that it rolls back, although the context that ends
// the exchange is done: a taker that commits once Serve has returned must
// hear a refusal, not a connection that ends without a word, which it would
// take for the old process's death and serve the sockets the old process
// serves on too.
func TestCloseRollsBackAnExchangeUnderWay(t *testing.T) {
	for _, how := range []struct {
		name string
		want error
	}{{"close", net.ErrClosed}, {"cancel", context.Canceled}} {
		for _, commitLate := range []bool{false, true} {
			name := how.name
			if commitLate {
				name += "/commit after Serve returned"
			}
			t.Run(name, func(t *testing.T) {
				old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
				require.NoError(t, err)
				defer old.Close()
				stopOld := serveLines(old, "old")
				defer stopOld()
				path := filepath.Join(shortDir(t), "handoff.sock")
				o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": old})
				require.NoError(t, err)
				defer o.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				served := make(chan error, 1)
				go func() { served <- o.Serve(ctx) }()

				tk, err := handoff.Take(context.Background(), path)
				require.NoError(t, err)
				g := tk.Listeners()["g"]
				defer g.Close()
				if how.name == "close" {
					require.NoError(t, o.Close())
				} else {
					cancel()
				}
				if !commitLate {
					assert.Error(t, tk.Commit(context.Background()), "the offer ended before the go")
				}
				select {
				case err := <-served:
					assert.ErrorIs(t, err, how.want)
				case <-time.After(patience):
					t.Fatal("Serve did not return")
				}
				if commitLate {
					err = tk.Commit(context.Background())
					assert.ErrorIs(t, err, handoff.ErrRefused, "the old process said it rolls back")
					assert.Equal(t, acceptgate.Closed, g.State(), "the taker let go: one process serves")
				}
				assert.Equal(t, acceptgate.Accepting, old.State())
				assertServedBy(t, "old", "tcp", old.Addr().String())
			})
		}
	}
}

// Closing a gate that is being handed over touches nothing the other
// process holds: a taker that closes its gates before it aborts leaves the
// old process's unix socket reachable, hidden or not; an old process that
// closes a gate under way leaves the new one a socket it can serve.
func TestCloseDuringTheExchangeLeavesTheSocketToTheOtherSide(t *testing.T) {
	for _, state := range []acceptgate.State{acceptgate.Accepting, acceptgate.Rejecting} {
		for _, closer := range []string{"taker", "offer"} {
			t.Run(state.String()+"/"+closer, func(t *testing.T) {
				old, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(shortDir(t), "gate.sock"))
				require.NoError(t, err)
				defer old.Close()
				addr := old.Addr().String()
				stopOld := serveLines(old, "old")
				defer stopOld()
				if state == acceptgate.Rejecting {
					require.NoError(t, old.Reject())
				}
				path, served := offer(t, map[string]*acceptgate.Listener{"g": old})
				tk, err := handoff.Take(context.Background(), path)
				require.NoError(t, err)
				g := tk.Listeners()["g"]
				defer g.Close()

				if closer == "taker" {
					g.Close() // as http.Server.Close would, the server failing to start
					require.NoError(t, tk.Abort())
					eventually(t, func() bool { return old.Resume() == nil }, "the old gate to roll back and resume")
					assertServedBy(t, "old", "unix", addr)
					return
				}
				require.NoError(t, old.Close())
				stopNew := serveLines(g, "new")
				defer stopNew()
				require.NoError(t, tk.Commit(context.Background()))
				require.NoError(t, served())
				require.NoError(t, g.Resume())
				assertServedBy(t, "new", "unix", addr)
			})
		}
	}
}

// A rejecting unix gate handed over leaves nothing behind in either
// process: once the new one resumes and closes it, no descriptor is open
// and its directory holds nothing, no hiding place either.
func TestAHiddenUnixGateLeavesNothingBehind(t *testing.T) {
	for _, resume := range []bool{true, false} {
		t.Run(fmt.Sprintf("resumed=%v", resume), func(t *testing.T) {
			dir := shortDir(t)
			before := openFiles(t)
			old, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(dir, "gate.sock"))
			require.NoError(t, err)
			require.NoError(t, old.Reject())
			path, served := offer(t, map[string]*acceptgate.Listener{"g": old})
			tk, err := handoff.Take(context.Background(), path)
			require.NoError(t, err)
			g := tk.Listeners()["g"]
			require.NoError(t, tk.Commit(context.Background()))
			require.NoError(t, served())
			if resume {
				require.NoError(t, g.Resume())
			}
			require.NoError(t, g.Close())
			old.Close()
			ents, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, ents)
			eventually(t, func() bool { return openFiles(t) <= before }, "every descriptor to be closed")
		})
	}
}

// A gate taken over with WithMaxConns holds to its limit, and its hook
// hears of the one change it makes: from holding the socket to accepting.
func TestATakenGateKeepsItsLimitAndReportsTruly(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	path, served := offer(t, map[string]*acceptgate.Listener{"g": old})
	type change struct{ from, to acceptgate.State }
	changes := make(chan change, 16)
	tk, err := handoff.Take(context.Background(), path, handoff.WithGateOptions(func(string) []acceptgate.Option {
		return []acceptgate.Option{acceptgate.WithMaxConns(1),
			acceptgate.WithStateHook(func(from, to acceptgate.State) { changes <- change{from, to} })}
	}))
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	require.NoError(t, tk.Commit(context.Background()))
	require.NoError(t, served())
	assert.Equal(t, change{acceptgate.Paused, acceptgate.Accepting}, <-changes)

	first, err := net.Dial("tcp", g.Addr().String())
	require.NoError(t, err)
	defer first.Close()
	c1, err := g.Accept()
	require.NoError(t, err)
	second, err := net.Dial("tcp", g.Addr().String())
	require.NoError(t, err)
	defer second.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := g.Accept()
		if err == nil {
			got <- c
		}
		close(got)
	}()
	eventually(t, func() bool { return g.Stats().Queued == 1 }, "the second client to wait in the queue")
	assert.EqualValues(t, 1, g.Stats().Active)
	require.NoError(t, c1.Close())
	select {
	case c2, ok := <-got:
		require.True(t, ok)
		c2.Close()
	case <-time.After(patience):
		t.Fatal("the second client was not accepted once the first left")
	}
	assert.Empty(t, changes, "no other change reported")
}

// One gate offered under two names is bad input: Listen says so at once,
// rather than every exchange failing on it later.
func TestListenRefusesAGateUnderTwoNames(t *testing.T) {
	g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	path := filepath.Join(shortDir(t), "handoff.sock")
	o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"a": g, "b": g})
	if err == nil {
		o.Close()
	}
	require.Error(t, err)
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "no offer socket made")
}
