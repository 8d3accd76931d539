package acceptgate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/backlog"
	"github.com/acceptgate/acceptgate/internal/faults"
	"github.com/acceptgate/acceptgate/listener"
)

// The tests in this file make one step of a transition fail, or take away
// what a step needs (the privilege to lift a fence, an interface to fence
// with, descriptors), and check what clients, descriptors and the reported
// state are after it.

// arm makes op fail with err from its n-th call on, until the test ends or
// it calls the function returned.
func arm(t *testing.T, op string, n int, err error) (disarm func()) {
	t.Helper()
	d := faults.Arm(op, n, err)
	t.Cleanup(func() { d() })
	return func() { d() }
}

// withoutPrivilege makes the gate find, as a process without CAP_NET_RAW
// does, that a fence cannot be lifted once put up.
func withoutPrivilege(t *testing.T) {
	arm(t, faults.Probe, 1, syscall.EPERM)
	arm(t, faults.Unfence, 1, syscall.EPERM)
}

// withoutFence makes the gate find no interface to fence with, as in a
// network namespace with only lo.
func withoutFence(t *testing.T) {
	arm(t, faults.Fence, 1, fmt.Errorf("no interface that clients cannot arrive on"))
}

func wrapTCP(t *testing.T) *acceptgate.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	l := acceptgate.Wrap(ln)
	t.Cleanup(func() { l.Close() })
	return l
}

// echoes asserts that a new client is served by l's echo server.
func echoes(t *testing.T, l *acceptgate.Listener, what string) {
	t.Helper()
	got, err := roundTrip(dial(t, l.Addr()), what)
	require.NoError(t, err)
	assert.Equal(t, "echo: "+what+"\n", got)
}

// servedLines asserts that each client, which sent its index on a line
// while queued, gets its echo: it was delivered, not reset. It closes them.
func servedLines(t *testing.T, conns []net.Conn) {
	t.Helper()
	for i, c := range conns {
		require.NoError(t, c.SetDeadline(time.Now().Add(patience)))
		got, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err, "client %d was not served", i)
		assert.Equal(t, fmt.Sprintf("echo: %d\n", i), got)
		c.Close()
	}
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

// Item 1: a server without CAP_NET_RAW resumes after Reject.
func TestResumeAfterRejectWithoutPrivilege(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) *acceptgate.Listener
	}{
		{"created by the gate", func(t *testing.T) *acceptgate.Listener { return listenTCP(t) }},
		{"given to Wrap", wrapTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withoutPrivilege(t)
			l := tc.make(t)
			addr := l.Addr().String()
			serveEcho(t, l)
			for range 3 {
				require.NoError(t, l.Reject())
				refused(t, l.Addr())
				require.NoError(t, l.Resume())
				assert.Equal(t, acceptgate.Accepting, l.State())
				assert.Equal(t, addr, l.Addr().String())
				echoes(t, l, "back")
			}
		})
	}
}

// Item 2, and the suspected fence left on: where no fence can be put up, the
// gate stops the socket once its queue is taken out; the clients queued are
// delivered, not reset, and Resume listens on the same descriptor.
func TestRejectWithoutAFence(t *testing.T) {
	withoutFence(t)
	l := listenTCP(t)
	require.NoError(t, l.Pause())
	conns := queueClients(t, l, 3)
	before := fdOf(t, l)
	require.NoError(t, l.Reject())
	refused(t, l.Addr())
	assert.Equal(t, 3, l.Stats().Pending, "taken out before the socket stopped")
	assert.Equal(t, -1, l.Stats().Queued, "not listening")
	serveEcho(t, l)
	servedLines(t, conns)
	require.NoError(t, l.Resume())
	assert.Equal(t, before, fdOf(t, l))
	echoes(t, l, "back")
}

// Item 8 and fact 13: a client whose handshake is not complete on the
// server when Reject comes (here a TCP_DEFER_ACCEPT client that has sent
// nothing yet, which stays a request socket) is delivered once it sends, not
// reset.
func TestRejectDeliversHandshakesUnderWay(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		t.Run(fmt.Sprintf("fenced=%v", fenced), func(t *testing.T) {
			if fenced && !canFence(t) {
				t.Skip("no interface to fence with here")
			}
			if !fenced {
				withoutFence(t)
			}
			l := listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithSocketConfig(listener.Config{DeferAccept: 5 * time.Second}))
			client := dial(t, l.Addr())
			n, err := backlog.Handshakes(l)
			require.NoError(t, err)
			require.Equal(t, 1, n, "connected, and still a request socket on the server")

			rejected := make(chan error, 1)
			go func() { rejected <- l.Reject() }()
			if fenced {
				require.NoError(t, <-rejected) // it does not wait: the fenced socket still delivers
			}
			_, err = io.WriteString(client, "late\n")
			require.NoError(t, err)
			if !fenced {
				require.NoError(t, <-rejected) // it waited for the handshake to complete
			}
			refused(t, l.Addr())
			r := receive(t, acceptAsync(t, l))
			require.NoError(t, r.err)
			defer r.c.Close()
			line, err := bufio.NewReader(r.c).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "late\n", line)
			fmt.Fprint(r.c, "served\n")
			got, err := bufio.NewReader(client).ReadString('\n')
			require.NoError(t, err, "the client was reset")
			assert.Equal(t, "served\n", got)
		})
	}
}

// Item 3: a hook may call Stats, and even a transition, while other
// goroutines make transitions; calls come in the order of the changes.
func TestStateHookMayCallBackIn(t *testing.T) {
	var (
		mu    sync.Mutex
		calls [][2]acceptgate.State
		l     *acceptgate.Listener
	)
	hook := func(from, to acceptgate.State) {
		_ = l.Stats()
		mu.Lock()
		calls = append(calls, [2]acceptgate.State{from, to})
		n := len(calls)
		mu.Unlock()
		if to == acceptgate.Paused && n%7 == 0 {
			_ = l.Resume() // reported after this call returns
		}
	}
	l = listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithStateHook(hook))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					switch (g + i) % 3 {
					case 0:
						l.Pause()
					case 1:
						l.Reject()
					default:
						l.Resume()
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("transitions deadlocked with a hook that calls back in")
	}
	require.NoError(t, l.Close())
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, calls)
	for i := 1; i < len(calls); i++ {
		require.Equal(t, calls[i-1][1], calls[i][0], "call %d does not follow call %d", i, i-1)
	}
	assert.Equal(t, acceptgate.Closed, calls[len(calls)-1][1])
}

// Item 4: Active counts connections returned and not yet closed, not
// goroutines waiting in Accept.
func TestActiveCountsOnlyConnectionsHandedOut(t *testing.T) {
	l := listenTCP(t, acceptgate.WithTracking())
	ch := acceptAsync(t, l)
	blockedInKernelAccept(t)
	assert.Zero(t, l.Stats().Active, "an idle accept loop")
	dial(t, l.Addr())
	r := receive(t, ch)
	require.NoError(t, r.err)
	acceptAsync(t, l)
	blockedInKernelAccept(t)
	assert.EqualValues(t, 1, l.Stats().Active, "one connection and an accept loop")
	require.NoError(t, r.c.Close())
	assert.Zero(t, l.Stats().Active)
}

// Item 5: a Reject whose drain fails half-way delivers what it took, wakes
// the Accept waiting for it, leaves the rest in the kernel's queue and the
// gate as it was.
func TestFailedDrainLosesNoClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(t *testing.T) (restore func())
	}{
		{"injected", func(t *testing.T) func() {
			disarm := faults.Arm(faults.Accept, 2, os.NewSyscallError("accept4", syscall.EMFILE))
			return func() { disarm() }
		}},
		{"out of descriptors", func(t *testing.T) func() {
			var old unix.Rlimit
			require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
			low := old
			// ReadDir's own descriptor is counted and closed again: this
			// leaves room for one accepted connection.
			low.Cur = uint64(openDescriptors(t))
			require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
			return func() { require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &old)) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withoutFence(t)
			l := listenTCP(t)
			require.NoError(t, l.Pause())
			conns := queueClients(t, l, 3)
			waiting := acceptAsync(t, l)
			restore := tc.fail(t)
			err := l.Reject()
			restore()
			require.ErrorIs(t, err, syscall.EMFILE)
			assert.Equal(t, acceptgate.Paused, l.State(), "the gate stays as it was")

			first := receive(t, waiting)
			require.NoError(t, first.err, "the client taken out is delivered at once")
			line, err := bufio.NewReader(first.c).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "0\n", line)
			fmt.Fprintf(first.c, "echo: %s", line)
			first.c.Close()
			q, _ := kernelQueue(t, l)
			assert.Equal(t, 2, q+l.Stats().Pending, "the rest pending or still queued in the kernel")

			serveEcho(t, l)
			require.NoError(t, l.Resume())
			servedLines(t, conns)
		})
	}
}

// Items 6 and 10, and the suspected failed unix Resume: whichever step of a
// unix Reject or Resume fails, the path keeps leading to a socket that
// answers as the reported state says, the queued clients are served, and
// nothing is left behind.
func TestFailedUnixTransitionsKeepThePath(t *testing.T) {
	for _, tc := range []struct {
		op     string
		n      int
		during acceptgate.State // the transition that fails goes to this state
	}{
		{op: faults.Link, n: 1, during: acceptgate.Rejecting},
		{op: faults.Park, n: 1, during: acceptgate.Rejecting},
		{op: faults.Rename, n: 1, during: acceptgate.Rejecting},
		{op: faults.Rename, n: 2, during: acceptgate.Accepting},
	} {
		t.Run(fmt.Sprintf("%s#%d", tc.op, tc.n), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "gate.sock")
			fds := openDescriptors(t)
			t.Cleanup(func() { // after the clients' own cleanups
				eventually(t, func() bool { return openDescriptors(t) <= fds }, "descriptors back to %d", fds)
			})
			l, err := acceptgate.Listen(context.Background(), "unix", path)
			require.NoError(t, err)
			require.NoError(t, os.Chmod(path, 0o600))
			require.NoError(t, l.Pause())
			conns := queueClients(t, l, 2)

			disarm := arm(t, tc.op, tc.n, syscall.EIO)
			err = l.Reject()
			if tc.during == acceptgate.Rejecting {
				require.ErrorIs(t, err, syscall.EIO)
				assert.Equal(t, acceptgate.Paused, l.State())
				c := dial(t, l.Addr()) // paused: queued, not refused
				c.Close()
			} else {
				require.NoError(t, err)
				require.ErrorIs(t, l.Resume(), syscall.EIO)
				assert.Equal(t, acceptgate.Rejecting, l.State())
				refused(t, l.Addr()) // ECONNREFUSED, not ENOENT
			}
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

			disarm()
			serveEcho(t, l)
			require.NoError(t, l.Resume())
			servedLines(t, conns)
			echoes(t, l, "back")
			require.NoError(t, l.Close())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "Close removes the path and nothing else is left")
		})
	}
}

// Item 7: a socket the gate did not create (from net.FileListener: systemd
// socket activation, a descriptor passed by a parent) may be held by other
// processes too. Closing a rejecting gate leaves it listening for them, and
// a unix socket's path where it was.
func TestCloseWhileRejectingLeavesAnInheritedSocketListening(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		fenced  bool
	}{
		{"tcp fenced", "tcp4", true},
		{"tcp without privilege", "tcp4", false},
		{"unix", "unix", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fenced && !canFence(t) {
				t.Skip("no interface to fence with here")
			}
			if !tc.fenced {
				withoutPrivilege(t)
			}
			address := "127.0.0.1:0"
			if tc.network == "unix" {
				address = filepath.Join(t.TempDir(), "s")
			}
			other, err := net.Listen(tc.network, address) // the other holder
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			f, err := other.(interface{ File() (*os.File, error) }).File()
			require.NoError(t, err)
			inherited, err := net.FileListener(f)
			require.NoError(t, err)
			f.Close()

			l := acceptgate.Wrap(inherited)
			require.NoError(t, l.Reject())
			refused(t, l.Addr())
			require.NoError(t, l.Close())

			c := dial(t, other.Addr())
			s, err := other.Accept()
			require.NoError(t, err, "the other holder still gets clients")
			s.Close()
			c.Close()
		})
	}
}

// Item 9: an abstract unix socket has no path at which to refuse; Reject
// says so and changes nothing, instead of creating a file named after it.
func TestRejectRefusesAbstractUnixSockets(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l := listen(t, "unix", fmt.Sprintf("@acceptgate-test-%d", os.Getpid()))
	assert.ErrorIs(t, l.Reject(), errors.ErrUnsupported)
	assert.Equal(t, acceptgate.Accepting, l.State())
	serveEcho(t, l)
	echoes(t, l, "still")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// Items 10 and 11: across many Rejects and Resumes, a 0600 unix socket's
// path never grants more, never goes missing, and no descriptor is left.
func TestUnixPathNeverWidensNorGoesMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.sock")
	fds := openDescriptors(t)
	l, err := acceptgate.Listen(context.Background(), "unix", path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o600))

	stop := make(chan struct{})
	seen := make(chan []string, 1)
	go func() {
		var bad []string
		for n := 0; ; n++ {
			select {
			case <-stop:
				seen <- bad
				return
			default:
			}
			fi, err := os.Lstat(path)
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case fi.Mode().Perm() != 0o600:
				bad = append(bad, fi.Mode().String())
			}
		}
	}()
	for range 100 {
		require.NoError(t, l.Reject())
		require.NoError(t, l.Resume())
	}
	close(stop)
	assert.Empty(t, <-seen)
	require.NoError(t, l.Close())
	eventually(t, func() bool { return openDescriptors(t) <= fds }, "descriptors back to %d", fds)
}

// Suspected: Pause waited without bound, holding the state mutex, for an
// Accept that SetDeadline does not wake. It now gives up after a while; the
// connection that Accept takes later is delivered, not lost.
func TestPauseDoesNotHangOnAnAcceptItCannotWake(t *testing.T) {
	defer acceptgate.SetWakeWait(50 * time.Millisecond)()
	inner := &unwakeable{conns: make(chan net.Conn), closed: make(chan struct{})}
	l := acceptgate.Wrap(inner)
	t.Cleanup(func() { l.Close() })
	ch := acceptAsync(t, l)
	eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*unwakeable).Accept")
	}, "Accept blocked in the inner listener")

	paused := make(chan error, 1)
	go func() { paused <- l.Pause() }()
	select {
	case err := <-paused:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("Pause hung")
	}
	assert.Equal(t, acceptgate.Paused, l.State())
	a, b := net.Pipe()
	defer b.Close()
	inner.conns <- a
	r := receive(t, ch)
	require.NoError(t, r.err)
	assert.Same(t, a, r.c, "delivered, not dropped")
	r.c.Close()
}

// Suspected: backlog.Resize on a gate whose socket Reject had to stop made it
// listen again, filling a queue nobody took.
func TestResizeRefusesAStoppedSocket(t *testing.T) {
	withoutFence(t)
	l := listenTCP(t)
	require.NoError(t, l.Reject())
	assert.Error(t, backlog.Resize(l, 16))
	refused(t, l.Addr())
}

// Suspected: a fence that cannot be lifted must leave the gate rejecting,
// refusing clients, not say accepting.
func TestFailedUnfenceKeepsRejecting(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	l := wrapTCP(t)
	serveEcho(t, l)
	require.NoError(t, l.Reject())
	if l.Stats().Backlog < 0 {
		t.Skip("not fenced: a socket given to Wrap is fenced only with the privilege to lift it")
	}
	disarm := arm(t, faults.Unfence, 1, syscall.EPERM)
	require.ErrorIs(t, l.Resume(), syscall.EPERM)
	assert.Equal(t, acceptgate.Rejecting, l.State())
	refused(t, l.Addr())
	require.ErrorIs(t, l.Pause(), syscall.EPERM)
	assert.Equal(t, acceptgate.Rejecting, l.State())
	disarm()
	require.NoError(t, l.Resume())
	echoes(t, l, "back")
}

// Suspected: connections Reject takes out of the kernel itself get the
// keep-alive settings that the listener's Accept gives every connection.
func TestTakenOutConnectionsKeepAlive(t *testing.T) {
	withoutFence(t)
	l := listenTCP(t)
	require.NoError(t, l.Pause())
	queueClients(t, l, 1)
	require.NoError(t, l.Reject())
	require.Equal(t, 1, l.Stats().Pending)
	r := receive(t, acceptAsync(t, l))
	require.NoError(t, r.err)
	defer r.c.Close()
	rc, err := r.c.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var on int
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) { on, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) }))
	require.NoError(t, gerr)
	assert.Equal(t, 1, on)
}

// TestEveryFailedStepLosesNoClient fails each step of Reject, Resume and
// Pause in turn, on its first and second call, with and without the
// privilege and the interface a fence needs, and checks after every
// transition that the state reported is the one the socket acts on, and at
// the end that every queued client was served and no descriptor is left.
func TestEveryFailedStepLosesNoClient(t *testing.T) {
	tcpSteps := []string{faults.Accept, faults.Fence, faults.Unfence, faults.Probe, faults.Handshakes,
		faults.Shutdown, faults.Hold, faults.Listen, faults.Bind}
	unixSteps := []string{faults.Accept, faults.Link, faults.Park, faults.Rename}
	type setup struct {
		name    string
		network string
		before  func(t *testing.T)
		steps   []string
	}
	setups := []setup{
		{"tcp", "tcp4", func(*testing.T) {}, tcpSteps},
		{"tcp without privilege", "tcp4", withoutPrivilege, tcpSteps},
		{"tcp without fence", "tcp4", withoutFence, tcpSteps},
		{"unix", "unix", func(*testing.T) {}, unixSteps},
	}
	transitions := []struct {
		to acceptgate.State
		do func(*acceptgate.Listener) error
	}{
		{acceptgate.Rejecting, (*acceptgate.Listener).Reject},
		{acceptgate.Accepting, (*acceptgate.Listener).Resume},
		{acceptgate.Paused, (*acceptgate.Listener).Pause},
		{acceptgate.Rejecting, (*acceptgate.Listener).Reject},
		{acceptgate.Paused, (*acceptgate.Listener).Pause},
		{acceptgate.Rejecting, (*acceptgate.Listener).Reject},
		{acceptgate.Accepting, (*acceptgate.Listener).Resume},
	}
	for _, su := range setups {
		for _, step := range su.steps {
			for n := 1; n <= 2; n++ {
				t.Run(fmt.Sprintf("%s/%s#%d", su.name, step, n), func(t *testing.T) {
					address := "127.0.0.1:0"
					if su.network == "unix" {
						address = filepath.Join(t.TempDir(), "gate.sock")
					}
					fds := openDescriptors(t)
					t.Cleanup(func() {
						eventually(t, func() bool { return openDescriptors(t) <= fds }, "descriptors back to %d", fds)
					})
					su.before(t)
					l := listen(t, su.network, address)
					require.NoError(t, l.Pause())
					queued := queueClients(t, l, 2)
					serveEcho(t, l)

					disarm := faults.Arm(step, n, syscall.EIO)
					t.Cleanup(func() { disarm() })
					for i, tr := range transitions {
						from := l.State()
						err := tr.do(l)
						want := tr.to
						if err != nil {
							want = from
						}
						require.Equal(t, want, l.State(), "after transition %d to %s (err %v)", i, tr.to, err)
						switch want {
						case acceptgate.Rejecting:
							refused(t, l.Addr())
						case acceptgate.Accepting:
							echoes(t, l, fmt.Sprint("step ", i))
						}
					}
					t.Logf("%s failed %d times", step, disarm())
					require.NoError(t, l.Resume())
					echoes(t, l, "at the end")
					servedLines(t, queued)
				})
			}
		}
	}
}

// A member of an SO_REUSEPORT group that rejects takes no new client: they
// all go to the other members at once. (A member left fenced and listening
// would still get its share from the group's hash and could not answer it:
// those clients would wait for their SYN to be sent again.)
func TestRejectingGroupMemberLeavesTheGroup(t *testing.T) {
	a := listen(t, "tcp4", "127.0.0.1:0", acceptgate.WithReusePort())
	b := listen(t, "tcp4", a.Addr().String(), acceptgate.WithReusePort())
	serveEcho(t, b)
	fromA := acceptAsync(t, a)
	require.NoError(t, a.Reject())
	for i := range 64 { // different source ports: spread over the group by its hash
		c, err := net.DialTimeout("tcp4", a.Addr().String(), 500*time.Millisecond)
		require.NoError(t, err, "client %d", i)
		got, err := roundTrip(c, "hi")
		require.NoError(t, err, "client %d", i)
		assert.Equal(t, "echo: hi\n", got)
		c.Close()
	}
	notYet(t, fromA, "a client on the rejecting member")
}

// Resume binds a replacement socket, where the fence cannot be lifted, for
// exactly the clients the original took: an IPv4 wildcard socket does not
// come back dual-stack, nor an IPv6-only one take IPv4 clients.
func TestReplacedSocketKeepsItsAddressFamily(t *testing.T) {
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	for _, tc := range []struct {
		network, address, other, otherHost string
	}{
		{"tcp4", "0.0.0.0:0", "tcp6", "::1"},
		{"tcp6", "[::]:0", "tcp4", "127.0.0.1"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			withoutPrivilege(t)
			l, err := acceptgate.Listen(context.Background(), tc.network, tc.address)
			if err != nil {
				t.Skip(err)
			}
			t.Cleanup(func() { l.Close() })
			before := l.Addr().String()
			require.NoError(t, l.Reject())
			require.NoError(t, l.Resume())
			assert.Equal(t, before, l.Addr().String())
			port := l.Addr().(*net.TCPAddr).Port
			if c, err := net.DialTimeout(tc.other, net.JoinHostPort(tc.otherHost, fmt.Sprint(port)), patience); err == nil {
				c.Close()
				t.Errorf("a %s socket takes %s clients after Resume", tc.network, tc.other)
			}
		})
	}
}

// While rejecting, the socket at a unix path has the owner, group and mode
// the listener's had: a client of the group that may connect is refused, not
// denied.
func TestUnixRejectKeepsThePathsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs to give the socket to another group")
	}
	path := filepath.Join(t.TempDir(), "gate.sock")
	l := listen(t, "unix", path)
	require.NoError(t, os.Chown(path, -1, 65534))
	require.NoError(t, os.Chmod(path, 0o660))
	require.NoError(t, l.Reject())
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(path, &st))
	assert.EqualValues(t, 65534, st.Gid)
	assert.EqualValues(t, 0o660, st.Mode&0o777)
}

// Closing a rejecting gate over a socket others hold closes it all the same,
// and says so if it could not make the socket listen again for them.
func TestCloseSaysWhenItCannotRestoreAnInheritedSocket(t *testing.T) {
	withoutPrivilege(t) // not fenced: stopped, so Close must listen again
	arm(t, faults.Listen, 1, syscall.EIO)
	l := wrapTCP(t)
	require.NoError(t, l.Reject())
	err := l.Close()
	require.ErrorIs(t, err, syscall.EIO)
	assert.Contains(t, err.Error(), "other holders")
	assert.Equal(t, acceptgate.Closed, l.State())
	assert.ErrorIs(t, l.Close(), net.ErrClosed, "closed for good")
}
