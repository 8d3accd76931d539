package wire

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// udpEcho listens for datagrams in w's server namespace and sends each one
// back, until the returned stop is called.
func udpEcho(t *testing.T, w *Wire) (addr string, got chan []byte, stop func()) {
	t.Helper()
	var pc net.PacketConn
	if err := w.Server(func() (err error) { pc, err = net.ListenPacket("udp4", ServerIP+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	got = make(chan []byte, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
			select {
			case got <- append([]byte(nil), buf[:n]...):
			default:
			}
		}
	}()
	return pc.LocalAddr().String(), got, func() { pc.Close(); <-done }
}

// udpClient dials udpEcho's server from w's clients' namespace; both
// close when the test ends.
func udpClient(t *testing.T, w *Wire) (net.Conn, chan []byte) {
	t.Helper()
	addr, got, stop := udpEcho(t, w)
	t.Cleanup(stop)
	c, err := w.Dial(context.Background(), "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, got
}

// TestRoundTripIsTheConfiguredOne measures the round trip of a datagram
// and its echo: never below 2 × Delay, and not far above it either.
func TestRoundTripIsTheConfiguredOne(t *testing.T) {
	const delay = 10 * time.Millisecond
	w := build(t, Config{Delay: delay})
	defer w.Close()
	c, _ := udpClient(t, w)
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range 15 {
		start := time.Now()
		fmt.Fprintf(c, "%d", i)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	t.Logf("round trips %v", rtts)
	if rtts[0] < 2*delay {
		t.Errorf("fastest round trip %v, below 2 × %v", rtts[0], delay)
	}
	if med := rtts[len(rtts)/2]; med > 2*delay+10*time.Millisecond {
		t.Errorf("median round trip %v, far above 2 × %v", med, delay)
	}
}

// TestJitterKeepsOrder sends numbered datagrams across a wire with much
// more jitter than delay, in bursts small enough for the receiver's
// buffer: they arrive in the order sent, as Config says.
func TestJitterKeepsOrder(t *testing.T) {
	w := build(t, Config{Delay: time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 3})
	defer w.Close()
	c, got := udpClient(t, w)
	const bursts, each = 10, 30
	deadline := time.After(5 * time.Second)
	for i := range bursts {
		for j := range each {
			c.Write(binary.BigEndian.AppendUint32(nil, uint32(i*each+j)))
		}
		for j := range each {
			want := uint32(i*each + j)
			select {
			case b := <-got:
				if n := binary.BigEndian.Uint32(b); n != want {
					t.Fatalf("datagram %d arrived where %d was due", n, want)
				}
			case <-deadline:
				t.Fatalf("after 5s, %d of %d arrived; %+v", want, bursts*each, w.Stats())
			}
		}
	}
}

// TestFullQueueDrops floods a small queue with a long delay: what does not
// fit is dropped and counted, and the rest arrives.
func TestFullQueueDrops(t *testing.T) {
	const queue, sent = 16, 400
	w := build(t, Config{Delay: 50 * time.Millisecond, Queue: queue})
	defer w.Close()
	c, got := udpClient(t, w)
	for i := range sent {
		c.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for s := w.Stats(); s.Overflow+s.Packets < sent; s = w.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %+v of %d", s, sent)
		}
		time.Sleep(time.Millisecond) // polls a counter the pump updates
	}
	if s := w.Stats(); s.Overflow == 0 || len(got) > 2*queue {
		t.Errorf("%+v, %d delivered through a queue of %d", s, len(got), queue)
	}
}

// TestLargeTransferIntact sends 1 MiB over TCP across a lossy wire and
// back: every byte arrives, in order.
func TestLargeTransferIntact(t *testing.T) {
	w := build(t, Config{Delay: time.Millisecond, Loss: 0.01, Seed: 5})
	defer w.Close()
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.Copy(c, c)
	}()
	defer func() { ln.Close(); <-done }()
	c, err := w.Dial(context.Background(), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	data := make([]byte, 1<<20)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	back, err := io.ReadAll(c)
	if err != nil || <-werr != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(back) != sha256.Sum256(data) {
		t.Fatalf("%d bytes back of %d, not the same", len(back), len(data))
	}
	t.Logf("%+v", w.Stats())
}

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

// TestServerSysctlStaysInside writes a sysctl of the server's namespace
// (as acceptgate handoff does with tcp_migrate_req): the host's value does
// not change.
func TestServerSysctlStaysInside(t *testing.T) {
	const path = "/proc/sys/net/ipv4/tcp_migrate_req"
	host, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	if strings.TrimSpace(string(host)) != "0" {
		t.Skipf("host's %s is %s; this test writes 1 inside", path, host)
	}
	w := build(t, Config{})
	defer w.Close()
	t.Cleanup(func() {
		if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "0" {
			os.WriteFile(path, host, 0)
		}
	})
	var inside []byte
	if err := w.Server(func() error {
		if err := os.WriteFile(path, []byte("1"), 0); err != nil {
			return err
		}
		inside, err = os.ReadFile(path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(host) || strings.TrimSpace(string(inside)) != "1" {
		t.Errorf("host's %s went from %q to %q; inside it reads %q", path, host, after, inside)
	}
}

// TestWireChild is the process TestKilledLeavesNothing kills: it builds a
// wire, carries a connection, says which namespaces it made and waits.
func TestWireChild(t *testing.T) {
	if os.Getenv("WIRE_TEST_CHILD") != "1" {
		t.Skip("the child of TestKilledLeavesNothing")
	}
	w := build(t, Config{Delay: time.Millisecond, Spare: true})
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := echo(ln)
	roundTrip(t, w, ln.Addr().String())
	c, err := w.Dial(context.Background(), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Printf("namespaces %d %d\n", inode(t, w.client.ns), inode(t, w.server.ns))
	io.Copy(io.Discard, os.Stdin) // until killed
	ln.Close()
	<-done
}

func hostLinks(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// netnsHolders lists the threads on this machine in namespace ino.
func netnsHolders(ino uint64) []string {
	target := fmt.Sprintf("net:[%d]", ino)
	paths, _ := filepath.Glob("/proc/[0-9]*/task/*/ns/net")
	var held []string
	for _, p := range paths {
		if l, err := os.Readlink(p); err == nil && l == target {
			held = append(held, p)
		}
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, p := range fds {
		if l, err := os.Readlink(p); err == nil && l == target {
			held = append(held, p)
		}
	}
	return held
}

// TestKilledLeavesNothing starts a process that builds a wire and kills it
// with SIGKILL mid-run: no process refers to its namespaces any more, no
// file under /run/netns names them, and the host's interfaces are those it
// had before.
func TestKilledLeavesNothing(t *testing.T) {
	if w, err := New(Config{}); CannotBuild(err) {
		t.Skipf("cannot build a wire here (needs root and /dev/net/tun): %v", err)
	} else if err == nil {
		w.Close()
	}
	links := hostLinks(t)
	netnsDir, _ := os.ReadDir("/run/netns")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWireChild$", "-test.v")
	cmd.Env = append(os.Environ(), "WIRE_TEST_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var nss []uint64
	lines := bufio.NewScanner(out)
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 3 && f[0] == "namespaces" {
			for _, s := range f[1:] {
				n, _ := strconv.ParseUint(s, 10, 64)
				nss = append(nss, n)
			}
			break
		}
	}
	if len(nss) != 2 {
		t.Fatalf("the child said no namespaces: %v", lines.Err())
	}
	for _, ino := range nss {
		if len(netnsHolders(ino)) == 0 {
			t.Fatalf("net:[%d] is held by no process while the child runs", ino)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	killed = true
	io.Copy(io.Discard, out) // to EOF: the pipe closes with the process
	cmd.Wait()
	for _, ino := range nss {
		if held := netnsHolders(ino); len(held) > 0 {
			t.Errorf("net:[%d] still held after SIGKILL by %v", ino, held)
		}
	}
	if after := hostLinks(t); !slices.Equal(after, links) {
		t.Errorf("host interfaces were %v, are %v", links, after)
	}
	if after, _ := os.ReadDir("/run/netns"); len(after) != len(netnsDir) {
		t.Errorf("/run/netns had %d entries, has %d", len(netnsDir), len(after))
	}
}

// TestQueueTooLong: a queue longer than a wire can ever hold is refused
// with an error before anything is built, not a panic in make.
func TestQueueTooLong(t *testing.T) {
	w, err := New(Config{Queue: 1 << 50})
	if err == nil {
		w.Close()
		t.Fatal("New accepted a queue of 2^50 packets")
	}
	if CannotBuild(err) {
		t.Fatalf("refused as if the machine could not build one: %v", err)
	}
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
