package acceptgate_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
)

// A Reject that must stop its socket, under a steady stream of near clients
// and on a host whose connection table takes milliseconds to walk, stops
// after one count that finds no handshake under way: the clients that
// completed theirs meanwhile are taken out and delivered, and the stop does
// not wait out the settle time for a count during which none completes,
// which under such a stream never comes (the code before forced every
// such stop). The other connections of a busy host are held here, both
// ends in this process.
func TestAStopUnderSteadyLoadDoesNotWaitForAQuietCount(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 6,000 connections")
	}
	defer acceptgate.SetSettleTime(300 * time.Millisecond)()
	holdConnections(t, 6000)

	var logged strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	withoutFence(t)
	g := listenTCP(t, acceptgate.WithLogger(logger))
	serveEcho(t, g)

	// 2,000 new clients a second, each on a connection of its own, at most
	// for as long as the cycles may take.
	stop := make(chan struct{})
	var clients sync.WaitGroup
	clients.Add(1)
	go func() {
		defer clients.Done()
		tick := time.NewTicker(500 * time.Microsecond)
		defer tick.Stop()
		for range 60000 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			clients.Add(1)
			go func() {
				defer clients.Done()
				c, err := net.DialTimeout("tcp4", g.Addr().String(), 2*time.Second)
				if err != nil {
					return // refused while rejecting
				}
				defer c.Close()
				roundTrip(c, "busy")
			}()
		}
	}()
	defer func() { close(stop); clients.Wait() }()

	for i := range 20 {
		t0 := time.Now()
		require.NoError(t, g.Reject())
		took := time.Since(t0)
		assert.Less(t, took, acceptgate.SettleTime(), "Reject %d waited out the settle time", i)
		require.NoError(t, g.Resume())
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, strings.Count(logged.String(), "handshakes still under way"), "stops that waited out the settle time and forced")
}

// holdConnections opens n TCP connections on loopback, both ends held by
// the test until it ends: the other connections of a busy host.
func holdConnections(t *testing.T, n int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range n {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), patience)
		require.NoError(t, err)
		held = append(held, c)
		s, err := ln.Accept()
		require.NoError(t, err)
		held = append(held, s)
	}
}
