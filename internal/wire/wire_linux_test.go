package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build makes a wire or skips the test when this machine or user cannot.
func build(t *testing.T, cfg Config) *Wire {
	t.Helper()
	w, err := New(cfg)
	if CannotBuild(err) {
		t.Skipf("cannot build a wire here (needs root and /dev/net/tun): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// echo serves one line back on each connection until ln closes.
func echo(ln net.Listener) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, line)
			c.Close()
		}
	}()
	return done
}

func roundTrip(t *testing.T, w *Wire, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	c, err := w.Dial(context.Background(), "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect := time.Since(start)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hi\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
	return connect
}

func TestCarriesTCPAfterTheDelay(t *testing.T) {
	const delay = 10 * time.Millisecond
	w := build(t, Config{Delay: delay})
	defer w.Close()
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := echo(ln)
	defer func() { ln.Close(); <-done }()
	// A connect needs the SYN there and the SYN-ACK back: one round trip
	// at least, never less.
	for range 3 {
		if got := roundTrip(t, w, ln.Addr().String()); got < 2*delay {
			t.Errorf("connect took %v, less than the round trip %v", got, 2*delay)
		}
	}
	if w.Stats().Packets == 0 {
		t.Error("no packet counted")
	}
}

func TestServerIsOnlyInItsNamespace(t *testing.T) {
	for _, port := range []string{"0", "8080"} {
		w := build(t, Config{})
		ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":"+port)
		if err != nil {
			w.Close()
			t.Fatal(err)
		}
		// This process's own namespace has neither address nor device.
		// Nothing is dialled from it: the wire's addresses there are
		// routed off the machine (a documentation range, but a gateway
		// may answer on it, as this machine's does on 8080), which proves
		// nothing about the wire and sends packets where no test may.
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		_, wireNet, _ := net.ParseCIDR(ServerIP + "/24")
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && wireNet.Contains(ipn.IP) {
				t.Errorf("the host has %v", a)
			}
		}
		for _, dev := range []string{"wirec", "wires", "spare0"} {
			if _, err := net.InterfaceByName(dev); err == nil {
				t.Errorf("the host has the wire's device %s", dev)
			}
		}
		if l, err := net.Listen("tcp4", ClientIP+":0"); err == nil {
			l.Close()
			t.Error("the clients' address is on the host")
		}
		ln.Close()
		w.Close()
	}
}

func TestLoss(t *testing.T) {
	w := build(t, Config{Loss: 0.5, Seed: 7})
	defer w.Close()
	var pc net.PacketConn
	if err := w.Server(func() (err error) { pc, err = net.ListenPacket("udp4", ServerIP+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := w.Dial(context.Background(), "udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 400
	for i := range sent {
		fmt.Fprintf(c, "%d", i)
	}
	// Every datagram is either lost or delivered; wait for the count.
	deadline := time.Now().Add(5 * time.Second)
	for s := w.Stats(); s.Lost+s.Packets < sent; s = w.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %+v of %d", s, sent)
		}
		time.Sleep(time.Millisecond) // polls a counter the pump updates
	}
	if s := w.Stats(); s.Lost < sent/4 || s.Lost > 3*sent/4 {
		t.Errorf("lost %d of %d at 50%%", s.Lost, sent)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Delay: -1}, {Jitter: -1}, {Loss: 1}, {Loss: -0.1}, {Queue: -1}} {
		if w, err := New(cfg); err == nil {
			w.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestParseLoss(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1%", 0.01, true}, {"0.01", 0.01, true}, {"0", 0, true}, {" 2.5% ", 0.025, true},
		{"100%", 0, false}, {"1", 0, false}, {"-1%", 0, false}, {"x", 0, false}, {"", 0, false},
	} {
		got, err := ParseLoss(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLoss(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// netnsRefs lists what in this process refers to the namespace with inode
// ino: a descriptor or a thread.
func netnsRefs(t *testing.T, ino uint64) []string {
	t.Helper()
	target := fmt.Sprintf("net:[%d]", ino)
	var refs []string
	for _, glob := range []string{"/proc/self/fd/*", "/proc/self/task/*/ns/net"} {
		paths, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if l, err := os.Readlink(p); err == nil && l == target {
				refs = append(refs, p)
			}
		}
	}
	return refs
}

func tunFDs(t *testing.T) int {
	t.Helper()
	paths, _ := filepath.Glob("/proc/self/fd/*")
	n := 0
	for _, p := range paths {
		if l, err := os.Readlink(p); err == nil && strings.HasPrefix(l, "/dev/net/tun") {
			n++
		}
	}
	return n
}

func inode(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestCloseLeavesNothing builds a wire, carries connections across it and
// closes it: no descriptor or thread of this process refers to either
// namespace any more, so the kernel has freed them and their devices (a
// namespace made by unshare is never bind-mounted); no TUN descriptor is
// left; and TestMain's goleak finds no goroutine.
func TestCloseLeavesNothing(t *testing.T) {
	tunsBefore := tunFDs(t)
	w := build(t, Config{Delay: time.Millisecond, Spare: true})
	nss := []uint64{inode(t, w.client.ns), inode(t, w.server.ns)}
	if nss[0] == nss[1] {
		t.Fatal("one namespace for both ends")
	}
	if got := tunFDs(t) - tunsBefore; got != 3 {
		t.Errorf("%d TUN descriptors open, want 3", got)
	}
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := echo(ln)
	for range 5 {
		roundTrip(t, w, ln.Addr().String())
	}
	ln.Close()
	<-done
	w.Close()
	w.Close() // again: nothing more

	for i, ino := range nss {
		if refs := netnsRefs(t, ino); len(refs) > 0 {
			t.Errorf("namespace %d (net:[%d]) still referred to by %v", i, ino, refs)
		}
	}
	if got := tunFDs(t); got != tunsBefore {
		t.Errorf("%d TUN descriptors open after Close, %d before", got, tunsBefore)
	}
	home, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// Threads used in the namespaces went back home.
	paths, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, p := range paths {
		if l, err := os.Readlink(p); err == nil && l != home {
			t.Errorf("%s is in %s, not %s", p, l, home)
		}
	}
}

func TestCannotBuildSaysWhy(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can build a wire; this checks the refusal an unprivileged user gets")
	}
	w, err := New(Config{})
	if err == nil {
		w.Close()
		t.Fatal("built a wire without privilege")
	}
	if !CannotBuild(err) {
		t.Fatalf("error %v is not one CannotBuild recognises", err)
	}
	if !errors.Is(err, os.ErrPermission) && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
}

func TestCallsAfterCloseFail(t *testing.T) {
	w := build(t, Config{})
	w.Close()
	if err := w.Server(func() error { return nil }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Server after Close: %v", err)
	}
	if _, err := w.Dial(context.Background(), "tcp4", ServerIP+":1"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
}
