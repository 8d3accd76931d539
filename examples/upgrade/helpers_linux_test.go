package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate/internal/upgradetest"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// patience bounds every wait; nothing waits that long unless something broke.
const patience = 20 * time.Second

func listenNotify(t *testing.T, addr string) *upgradetest.Notifications {
	return upgradetest.ListenNotify(t, addr)
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	upgradetest.Eventually(t, cond, patience, what)
}

// startLoad sends GET / on a new connection each time from loops
// goroutines until End; bounded in count and time.
func startLoad(url string, loops int) *upgradetest.Load {
	return upgradetest.StartLoad(url, loops, 500_000, patience)
}

// lines reads r line by line into a channel.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

// servingAddr waits for a generation's "serving http://ADDR/" line.
func servingAddr(t *testing.T, out <-chan string) string {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case l, ok := <-out:
			require.True(t, ok, "the server ended before it served")
			if _, rest, ok := strings.Cut(l, "serving http://"); ok {
				return strings.TrimSuffix(rest, "/")
			}
		case <-timeout:
			t.Fatal("the server never said where it serves")
		}
	}
}

// reap waits, within patience, for pid, a child of this process (or an
// orphan it adopted as subreaper), to exit.
func reap(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err, "waiting for pid %d", pid)
		if got == pid {
			return
		}
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ex")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
