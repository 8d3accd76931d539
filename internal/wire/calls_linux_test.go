package wire

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCallThatExitsItsGoroutine: a function given to Server that ends its
// goroutine (runtime.Goexit, as t.FailNow or require does when called
// there) makes Server return an error, not hang, and Close still returns.
func TestCallThatExitsItsGoroutine(t *testing.T) {
	w := build(t, Config{})
	ret := make(chan error, 1)
	go func() { ret <- w.Server(func() error { runtime.Goexit(); return nil }) }()
	select {
	case err := <-ret:
		if err == nil {
			t.Error("Server returned no error for a function that never returned")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Server hangs after its function called runtime.Goexit")
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}

// waitForBlocked waits until some goroutine is blocked in package sync
// under frame.
func waitForBlocked(t *testing.T, frame string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if i := strings.Index(g, frame); i > 0 && strings.Contains(g[:i], "\nsync.") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine blocked under %s", frame)
		}
		time.Sleep(time.Millisecond) // polls the goroutines' stacks
	}
}

// TestNestedCallWhileClosing: a Server call whose function dials (a
// Client call inside it) while another goroutine closes the wire gets an
// answer, not a deadlock between the two.
func TestNestedCallWhileClosing(t *testing.T) {
	w := build(t, Config{})
	closed := make(chan struct{})
	ret := make(chan error, 1)
	go func() {
		ret <- w.Server(func() error {
			go func() { w.Close(); close(closed) }()
			waitForBlocked(t, "wire.(*Wire).Close")
			return w.Client(func() error { return nil })
		})
	}()
	select {
	case err := <-ret:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("nested call: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Client call inside a Server call deadlocks with Close")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}

// TestNewInsideAnotherWire builds a wire from inside another wire's
// server namespace (as a server started in a Server call might): the
// threads its calls use still go back to this process's namespace, not to
// the other wire's.
func TestNewInsideAnotherWire(t *testing.T) {
	home, err := os.Readlink("/proc/thread-self/ns/net") // this goroutine is not locked
	if err != nil {
		t.Fatal(err)
	}
	outer := build(t, Config{})
	defer outer.Close()
	var inner *Wire
	if err := outer.Server(func() (err error) { inner, err = New(Config{}); return err }); err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	for range 50 {
		if err := inner.Client(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	paths, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, p := range paths {
		if l, err := os.Readlink(p); err == nil && l != home {
			t.Errorf("%s is in %s, not %s", p, l, home)
		}
	}
}

// TestThreadThatCannotGoHomeEnds makes the switch back fail, again and
// again: each thread, left in the clients' namespace, ends instead of
// running other goroutines. The main thread cannot end (the runtime parks
// it for good), so a call must never run on it: it would stay in the
// clients' namespace, and keep it, for the life of the process, and
// /proc/self/net would be that namespace's.
func TestThreadThatCannotGoHomeEnds(t *testing.T) {
	w := build(t, Config{})
	defer w.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	home := w.homefd
	defer func() { w.homefd = home }()
	for range 20 {
		w.homefd = int(null.Fd()) // setns on it fails with EINVAL
		var tid int
		if err := w.Client(func() error { tid = syscall.Gettid(); return nil }); err != nil {
			t.Fatal(err)
		}
		w.homefd = home
		if tid == os.Getpid() {
			t.Fatal("a call ran on the main thread")
		}
		task := fmt.Sprintf("/proc/self/task/%d", tid)
		for deadline := time.Now().Add(5 * time.Second); ; {
			if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				l, _ := os.Readlink(task + "/ns/net")
				t.Fatalf("thread %d, which could not go home, still runs (in %s)", tid, l)
			}
			time.Sleep(time.Millisecond) // polls /proc for the thread
		}
	}
}
