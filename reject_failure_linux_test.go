package acceptgate_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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

// The tests in this file make a step of Reject or Resume on a TCP socket
// fail, or take away what a step needs (the privilege to lift a fence, an
// interface to fence with), and check what clients, descriptors and the
// reported state are after it. The helpers that take those things away are
// shared with the other failure tests.

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
	l := acceptgate.Wrap(ln, withFaults(t))
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

// A server without CAP_NET_RAW, which cannot lift a fence once it is up,
// resumes after Reject, on the same address.
func TestResumeAfterRejectWithoutPrivilege(t *testing.T) {
	t.Parallel() // its faults are its own (arm), its sockets too
	for _, tc := range []struct {
		name string
		make func(t *testing.T) *acceptgate.Listener
	}{
		{"created by the gate", func(t *testing.T) *acceptgate.Listener { return listenTCP(t) }},
		{"given to Wrap", wrapTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
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

// Where no fence can be put up, the gate stops the socket once its queue is
// taken out instead of leaving it listening; the clients queued are
// delivered, not reset, and Resume listens on the same descriptor.
func TestRejectWithoutAFence(t *testing.T) {
	t.Parallel() // its faults are its own (arm), its sockets too
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

// A client whose handshake is not complete on the server when Reject comes
// (here a TCP_DEFER_ACCEPT client that has sent nothing yet, which stays a
// request socket tied to the listener) is delivered once it sends, not
// reset: a socket that stopped listening would answer its final ACK with
// RST.
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

// A Reject whose drain fails half-way delivers what it took, wakes the
// Accept waiting for it, leaves the rest in the kernel's queue and the gate
// as it was.
func TestFailedDrainLosesNoClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(t *testing.T) (restore func())
	}{
		{"injected", func(t *testing.T) func() {
			disarm := arm(t, faults.Accept, 2, os.NewSyscallError("accept4", syscall.EMFILE))
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

// backlog.Resize refuses a socket that Reject had to stop, instead of
// making it listen again and fill a queue nobody takes.
func TestResizeRefusesAStoppedSocket(t *testing.T) {
	withoutFence(t)
	l := listenTCP(t)
	require.NoError(t, l.Reject())
	assert.Error(t, backlog.Resize(l, 16))
	refused(t, l.Addr())
}

// A fence that cannot be lifted leaves the gate rejecting, refusing
// clients; it does not say accepting.
func TestFailedUnfenceKeepsRejecting(t *testing.T) {
	t.Parallel() // its faults are its own (arm), its sockets too
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

// Connections Reject takes out of the kernel itself get the keep-alive
// settings that the listener's Accept gives every connection.
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
		faults.Shutdown, faults.Hold, faults.Listen, faults.Bind, faults.Beside}
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

					disarm := arm(t, step, n, syscall.EIO)
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
			l, err := acceptgate.Listen(context.Background(), tc.network, tc.address, withFaults(t))
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

// A socket that Resume replaces, because this process may not lift its
// fence, whose replacement cannot bind and which then cannot listen behind
// the fence again either, stays rejecting: clients are refused, and an
// Accept waiting meanwhile gets neither an error nor a connection. The next
// Resume binds the replacement, and that Accept delivers its first client.
func TestAReplacementThatCanNeitherBindNorListenAgainStaysRejecting(t *testing.T) {
	t.Parallel() // its faults are its own (arm), its sockets too
	if !canFence(t) {
		t.Skip("no interface to fence with here")
	}
	withoutPrivilege(t)
	l := listenTCP(t)
	require.NoError(t, l.Reject())
	waiting := acceptAsync(t, l)
	disarmBind := arm(t, faults.Bind, 1, syscall.EADDRINUSE)
	disarmListen := arm(t, faults.Listen, 1, syscall.EIO)
	require.ErrorIs(t, l.Resume(), syscall.EADDRINUSE)
	assert.Equal(t, acceptgate.Rejecting, l.State())
	refused(t, l.Addr())
	notYet(t, waiting, "Accept, on a gate that still rejects with its socket stopped")

	disarmBind()
	disarmListen()
	require.NoError(t, l.Resume())
	assert.Equal(t, acceptgate.Accepting, l.State())
	c := dial(t, l.Addr())
	r := receive(t, waiting)
	require.NoError(t, r.err)
	defer r.c.Close()
	_, err := io.WriteString(c, "after\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(r.c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "after\n", line)
}
