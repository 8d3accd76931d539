package wire

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
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
