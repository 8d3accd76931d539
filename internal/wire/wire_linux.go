package wire

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Wire is a link between two network namespaces of this process. Its
// methods may be called from any goroutine.
type Wire struct {
	cfg            Config
	home           *os.File // the namespace threads go back to after a call
	homefd         int
	mu             sync.Mutex
	closed         bool           // guarded by mu
	calls          sync.WaitGroup // calls under way; added to under mu while not closed
	client, server *netns
	pumps          sync.WaitGroup
	done           chan struct{} // closed by Close: writers stop waiting
	closeOnce      sync.Once
	packets, lost  atomic.Int64
	overflow       atomic.Int64
}

// netns is one end: a namespace, held open by ns, and its TUN device.
type netns struct {
	ns    *os.File // /proc/thread-self/ns/net of the thread that made it
	nsfd  int
	tun   *os.File
	spare *os.File // a TUN device left down, or nil
}

// New builds a wire: two namespaces, their devices up with their
// addresses, and the goroutines that carry packets between them. Close
// takes it all down.
func New(cfg Config) (*Wire, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Queue == 0 {
		cfg.Queue = 4096
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, fmt.Errorf("wire: no TUN device: %w (%w)", errors.ErrUnsupported, err)
	}
	home, err := homeNetns()
	if err != nil {
		return nil, err
	}
	w := &Wire{cfg: cfg, home: home, homefd: int(home.Fd()), done: make(chan struct{})}
	if w.client, err = w.makeNetns("wirec", [4]byte{198, 51, 100, 1}, false); err != nil {
		home.Close()
		return nil, err
	}
	if w.server, err = w.makeNetns("wires", [4]byte{198, 51, 100, 2}, cfg.Spare); err != nil {
		w.client.close()
		home.Close()
		return nil, err
	}
	w.pump(w.client.tun, w.server.tun, cfg.Seed)
	w.pump(w.server.tun, w.client.tun, cfg.Seed+1)
	return w, nil
}

// homeNetns opens the namespace of the threads that run unlocked
// goroutines, where threads go back after a call. It asks a goroutine of
// its own: New may run locked to a thread another wire's Server call
// switched elsewhere, and /proc/self names the main thread, which the
// program may have locked and switched itself.
func homeNetns() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	rc := make(chan result, 1)
	go func() {
		f, err := os.Open("/proc/thread-self/ns/net")
		rc <- result{f, err}
	}()
	r := <-rc
	if r.err != nil {
		return nil, fmt.Errorf("wire: %w", r.err)
	}
	return r.f, nil
}

// makeNetns makes a namespace on a thread of its own, with lo up and a TUN
// device named dev with ip/24, and returns the thread to this process's
// namespace.
func (w *Wire) makeNetns(dev string, ip [4]byte, spare bool) (n *netns, err error) {
	onThread(func() {
		if uerr := unix.Unshare(unix.CLONE_NEWNET); uerr != nil {
			runtime.UnlockOSThread() // nothing changed on this thread
			err = fmt.Errorf("wire: %w", os.NewSyscallError("unshare CLONE_NEWNET", uerr))
			return
		}
		n, err = setUp(dev, ip, spare)
		if unix.Setns(w.homefd, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread ends with this goroutine, taking its namespace along
	})
	return n, err
}

// onThread calls f on a goroutine locked to a thread of its own, not the
// main thread, and waits for it to end. f unlocks the thread if it may run
// other goroutines again; if it does not, the thread ends with the
// goroutine. The main thread cannot end (the runtime parks it for good
// instead), so one left in another namespace would keep that namespace for
// the life of the process and give /proc/self its view: a goroutine that
// finds itself there holds it while another goroutine, which then cannot
// be scheduled on it, calls f.
func onThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			defer runtime.UnlockOSThread()
			onThread(f)
			return
		}
		f()
	}()
	<-done
}

// setUp runs on a thread in a new namespace and builds its end there.
func setUp(dev string, ip [4]byte, spare bool) (n *netns, err error) {
	n = &netns{}
	defer func() {
		if err != nil {
			n.close()
			n = nil
		}
	}()
	if n.ns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		return n, fmt.Errorf("wire: %w", err)
	}
	n.nsfd = int(n.ns.Fd())
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return n, fmt.Errorf("wire: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(s)
	if err := ifUp(s, "lo"); err != nil {
		return n, err
	}
	if n.tun, err = openTUN(dev); err != nil {
		return n, err
	}
	if err := ifAddr(s, dev, ip); err != nil {
		return n, err
	}
	if err := ifUp(s, dev); err != nil {
		return n, err
	}
	if spare {
		n.spare, err = openTUN("spare0")
	}
	return n, err
}

func openTUN(dev string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("wire: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(dev)
	if err == nil {
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = os.NewSyscallError("TUNSETIFF", unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr))
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wire: tun %s: %w", dev, err)
	}
	// Non-blocking, so that the runtime's poller waits for packets and
	// Close wakes a pending Read.
	return os.NewFile(uintptr(fd), "tun:"+dev), nil
}

func ifUp(s int, dev string) error {
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return fmt.Errorf("wire: %s: %w", dev, err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("wire: %s: %w", dev, os.NewSyscallError("SIOCGIFFLAGS", err))
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("wire: %s up: %w", dev, os.NewSyscallError("SIOCSIFFLAGS", err))
	}
	return nil
}

// ifAddr gives dev ip/24; the kernel adds the route to the /24 through dev
// when it comes up.
func ifAddr(s int, dev string, ip [4]byte) error {
	for _, step := range []struct {
		req  uint
		name string
		v    []byte
	}{
		{unix.SIOCSIFADDR, "SIOCSIFADDR", ip[:]},
		{unix.SIOCSIFNETMASK, "SIOCSIFNETMASK", []byte{255, 255, 255, 0}},
	} {
		ifr, err := unix.NewIfreq(dev)
		if err == nil {
			err = ifr.SetInet4Addr(step.v)
		}
		if err == nil {
			err = os.NewSyscallError(step.name, unix.IoctlIfreq(s, step.req, ifr))
		}
		if err != nil {
			return fmt.Errorf("wire: %s %v: %w", dev, net.IP(ip[:]), err)
		}
	}
	return nil
}

func (n *netns) close() {
	for _, f := range []*os.File{n.tun, n.spare, n.ns} {
		if f != nil {
			f.Close()
		}
	}
}

type packet struct {
	b   []byte
	due time.Time
}

// pump carries the packets from's device sends into to's device: a reader
// stamps each with the time it is due and queues it, a writer writes it
// then. Both end when Close closes the devices.
func (w *Wire) pump(from, to *os.File, seed uint64) {
	q := make(chan packet, w.cfg.Queue)
	w.pumps.Add(2)
	go func() {
		defer w.pumps.Done()
		defer close(q)
		rng := rand.New(rand.NewPCG(seed, 0x3f1e))
		buf := make([]byte, 1<<16)
		var last time.Time
		for {
			n, err := from.Read(buf)
			if err != nil {
				return // closed
			}
			if w.cfg.Loss > 0 && rng.Float64() < w.cfg.Loss {
				w.lost.Add(1)
				continue
			}
			due := time.Now().Add(w.cfg.Delay)
			if w.cfg.Jitter > 0 {
				due = due.Add(time.Duration(rng.Int64N(int64(w.cfg.Jitter))))
			}
			if due.Before(last) {
				due = last // in order, as one link keeps them
			}
			last = due
			select {
			case q <- packet{append([]byte(nil), buf[:n]...), due}:
			default:
				w.overflow.Add(1)
			}
		}
	}()
	go func() {
		defer w.pumps.Done()
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for p := range q {
			if d := time.Until(p.due); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-w.done:
					continue // drain until the reader closes q
				}
			}
			if _, err := to.Write(p.b); err == nil {
				w.packets.Add(1)
			}
		}
	}()
}

// run calls f on a thread switched into n, and switches the thread back
// after (never the main thread: see onThread). A thread that cannot be
// switched back ends with its goroutine. If f ends its goroutine
// (runtime.Goexit, which t.FailNow calls), run returns an error. Close waits for calls under way, so that no descriptor run uses
// is closed, or its number reused, meanwhile; a call made while Close
// waits (from inside f, say) fails with net.ErrClosed instead of waiting
// for it.
func (w *Wire) run(n *netns, f func() error) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("wire: %w", net.ErrClosed)
	}
	w.calls.Add(1)
	w.mu.Unlock()
	defer w.calls.Done()
	err := errors.New("wire: the function ended its goroutine (runtime.Goexit; t.FailNow must run on the test's goroutine)")
	onThread(func() {
		if serr := unix.Setns(n.nsfd, unix.CLONE_NEWNET); serr != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("wire: %w", os.NewSyscallError("setns", serr))
			return
		}
		defer func() {
			if unix.Setns(w.homefd, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		err = f()
	})
	return err
}

// Server calls f on a thread in the server's namespace and returns its
// error. The sockets f makes (a listener, an acceptgate.Listen) belong to
// that namespace for good, whichever goroutine uses them later; what asks
// the kernel about the namespace it runs in (listing interfaces,
// sock_diag) must run inside f too. Goroutines f starts run outside it.
func (w *Wire) Server(f func() error) error { return w.run(w.server, f) }

// Client calls f on a thread in the clients' namespace, as Server does.
func (w *Wire) Client(f func() error) error { return w.run(w.client, f) }

// Dial connects from the clients' namespace, as net.Dialer.DialContext.
func (w *Wire) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := w.Client(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen listens in the server's namespace, as net.ListenConfig.Listen.
func (w *Wire) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := w.Server(func() (err error) {
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// Addr returns the server's address, ServerIP, for listeners to bind to.
func (w *Wire) Addr() string { return ServerIP }

// Stats returns the packets carried and dropped so far.
func (w *Wire) Stats() Stats {
	return Stats{Packets: w.packets.Load(), Lost: w.lost.Load(), Overflow: w.overflow.Load()}
}

// Close takes the wire down: the devices go with their descriptors, the
// goroutines end, and each namespace goes when the last socket made in it
// is closed. Close waits for Server, Client, Dial and Listen calls under way
// (so a function given to Server or Client must not call it) and makes
// later ones fail with net.ErrClosed; it returns once the goroutines have
// ended. Calling it again does nothing.
func (w *Wire) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.calls.Wait()
		close(w.done)
		w.client.tun.Close()
		w.server.tun.Close()
		w.pumps.Wait()
		w.client.close()
		w.server.close()
		w.home.Close()
	})
	return nil
}
