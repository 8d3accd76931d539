//go:build unix

package handoff_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// patience bounds every wait; nothing waits for it unless something broke.
const patience = 10 * time.Second

// serveLines answers the line each client sends with who, a colon and
// the line, and hangs up; stop closes l and waits for every connection to end.
func serveLines(l net.Listener, who string) (stop func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(patience))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					c.Write([]byte(who + ":" + line))
				}
			}()
		}
	}()
	return func() {
		l.Close()
		wg.Wait()
	}
}

// ask connects to addr, sends one line and returns the answer.
func ask(network, addr string) (string, error) {
	c, err := net.DialTimeout(network, addr, patience)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// offer offers gates at a fresh path and serves it; wait returns what Serve
// returned.
func offer(t *testing.T, gates map[string]*acceptgate.Listener, opts ...handoff.Option) (path string, wait func() error) {
	t.Helper()
	path = filepath.Join(shortDir(t), "handoff.sock")
	o, err := handoff.Listen(context.Background(), path, gates, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- o.Serve(ctx) }()
	var once sync.Once
	var serveErr error
	wait = func() error {
		once.Do(func() {
			select {
			case serveErr = <-errc:
			case <-time.After(patience):
				serveErr = errors.New("Serve did not return")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		cancel()
		o.Close()
		wait()
	})
	return path, wait
}

// shortDir returns a new directory for unix sockets, removed after the
// test: t.TempDir's path holds the test's name and, under a long TMPDIR,
// a socket path in it can pass the 108 bytes a sockaddr_un holds.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ho")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
