package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestCloseWithPacketsInFlight closes a wire with a long delay while
// packets wait in its queues: Close returns without waiting them out.
func TestCloseWithPacketsInFlight(t *testing.T) {
	fds := countFDs(t)
	w := build(t, Config{Delay: 10 * time.Second})
	addr, _, stop := udpEcho(t, w)
	defer stop()
	c, err := w.Dial(context.Background(), "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		fmt.Fprintf(c, "%d", i)
	}
	c.Close()
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with packets in flight", d)
	}
	stop()
	if got := countFDs(t); got > fds {
		t.Errorf("%d descriptors open after Close, %d before", got, fds)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	paths, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	return len(paths)
}

// TestCloseDuringCalls closes a wire while goroutines dial across it:
// Close returns, each call ends with a connection or an error, later
// calls fail with net.ErrClosed, and no descriptor is left.
func TestCloseDuringCalls(t *testing.T) {
	fds := countFDs(t)
	w := build(t, Config{Delay: time.Millisecond})
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := echo(ln)
	addr := ln.Addr().String()
	dialed := make(chan struct{}, 64)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				c, err := w.Dial(ctx, "tcp4", addr)
				cancel()
				if errors.Is(err, net.ErrClosed) {
					errs <- nil
					return
				}
				if err == nil {
					c.Close()
				}
				select {
				case dialed <- struct{}{}:
				default:
				}
			}
		}()
	}
	for range 20 {
		<-dialed
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs while calls run")
	}
	for range 8 {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a dialer did not see net.ErrClosed")
		}
	}
	ln.Close()
	<-done
	if got := countFDs(t); got > fds {
		t.Errorf("%d descriptors open after Close, %d before", got, fds)
	}
}
