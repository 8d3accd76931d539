//go:build unix

package handoff_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// fakeOffer speaks the offer's side of the exchange by hand, so that a test
// can send sockets that do not match their description. It answers one
// taker: it reads hello, sends sockets with files, and reports what the
// taker answered (its error message, or "ready").
func fakeOffer(t *testing.T, sockets []map[string]any, files []*os.File) (path string, answer <-chan string) {
	t.Helper()
	path = filepath.Join(shortDir(t), "fake.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	require.NoError(t, err)
	got := make(chan string, 1)
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer close(got)
		ln.SetDeadline(time.Now().Add(patience))
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(patience))
		buf := make([]byte, 1<<16)
		if _, err := c.Read(buf); err != nil {
			return
		}
		b, _ := json.Marshal(map[string]any{"op": "sockets", "version": handoff.Version, "pid": 1, "sockets": sockets})
		var fds []int
		for _, f := range files {
			fds = append(fds, int(f.Fd()))
		}
		var oob []byte
		if len(fds) > 0 {
			oob = syscall.UnixRights(fds...)
		}
		if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
			return
		}
		n, err := c.Read(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		var m struct{ Op, Error string }
		json.Unmarshal(buf[:n], &m)
		if m.Op == "error" {
			got <- m.Error
			return
		}
		got <- m.Op
	}()
	return path, got
}

// listenerFile returns a duplicate of ln's descriptor, closed after the test.
func listenerFile(t *testing.T, ln interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := ln.File()
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// An offer whose description does not fit the descriptors it sends is
// refused: Take returns an error, tells the offer, and keeps nothing.
func TestTakeRefusesDescriptorsThatDoNotMatch(t *testing.T) {
	dir := shortDir(t)
	stream, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "stream.sock"), Net: "unix"})
	require.NoError(t, err)
	defer stream.Close()
	gram, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "gram.sock"), Net: "unixgram"})
	require.NoError(t, err)
	defer gram.Close()
	tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer tcp.Close()
	client, err := net.DialTCP("tcp4", nil, tcp.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	defer client.Close()

	for _, tc := range []struct {
		name   string
		socket map[string]any
		files  []*os.File
	}{
		{
			name: "a hidden unix socket without its parked socket",
			socket: map[string]any{"name": "g", "network": "unix", "address": stream.Addr().String(), "state": "rejecting",
				"reject": "hidden", "files": 1,
				"hidden": map[string]any{"dir": filepath.Join(dir, ".agx"), "link": filepath.Join(dir, ".agx", "l"), "ino": 1}},
			files: []*os.File{listenerFile(t, stream)},
		},
		{
			name:   "a datagram unix socket",
			socket: map[string]any{"name": "g", "network": "unix", "address": gram.LocalAddr().String(), "state": "accepting", "files": 1},
			files:  []*os.File{listenerFile(t, gram)},
		},
		{
			name:   "a connected TCP socket, not a listening one",
			socket: map[string]any{"name": "g", "network": "tcp4", "address": client.LocalAddr().String(), "state": "accepting", "files": 1},
			files:  []*os.File{listenerFile(t, client)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, answer := fakeOffer(t, []map[string]any{tc.socket}, tc.files)
			before := openFiles(t)
			var tk *handoff.Takeover
			require.NotPanics(t, func() { tk, err = handoff.Take(context.Background(), path) })
			if err == nil {
				for _, g := range tk.Listeners() {
					g.Close()
				}
				tk.Abort()
			}
			assert.Error(t, err, "Take accepted a socket unlike its description")
			assert.NotEqual(t, "ready", <-answer)
			eventually(t, func() bool { return openFiles(t) <= before }, "the descriptors received to be closed")
		})
	}
}

// fakeTaker speaks the taker's side by hand up to a step, then hangs up,
// as a new process that dies there would. It closes the descriptors it
// received.
func fakeTaker(t *testing.T, path string, hangUpAfter string) {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	require.NoError(t, err)
	uc := c.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(patience))
	send := func(op string) {
		b, _ := json.Marshal(map[string]any{"op": op, "version": handoff.Version})
		_, err := uc.Write(b)
		require.NoError(t, err)
	}
	recv := func(want string) {
		buf, oob := make([]byte, 1<<16), make([]byte, 4096)
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		require.NoError(t, err)
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		require.NoError(t, err)
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			require.NoError(t, err)
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}
		var m struct{ Op string }
		require.NoError(t, json.Unmarshal(buf[:n], &m))
		require.Equal(t, want, m.Op)
	}
	send("hello")
	recv("sockets")
	if hangUpAfter == "sockets" {
		return
	}
	send("ready")
	if hangUpAfter == "ready" {
		return
	}
	recv("go")
}

// A taker that dies at any step before it says it accepts leaves the old
// gates as they were: accepting, with every transition allowed again, the
// hook told of the pause and its undoing only, and no descriptor left.
func TestATakerThatDiesAtAnyStepChangesNothing(t *testing.T) {
	for _, step := range []string{"sockets", "ready", "go"} {
		t.Run("after "+step, func(t *testing.T) {
			type change struct{ from, to acceptgate.State }
			changes := make(chan change, 16)
			hook := acceptgate.WithStateHook(func(from, to acceptgate.State) { changes <- change{from, to} })
			tcp, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0", hook, acceptgate.WithMaxConns(4))
			require.NoError(t, err)
			defer tcp.Close()
			rej, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(shortDir(t), "rej.sock"))
			require.NoError(t, err)
			defer rej.Close()
			require.NoError(t, rej.Reject())
			stopTCP, stopRej := serveLines(tcp, "old"), serveLines(rej, "old")
			defer stopTCP()
			defer stopRej()
			path, _ := offer(t, map[string]*acceptgate.Listener{"tcp": tcp, "rej": rej})
			before := openFiles(t)

			fakeTaker(t, path, step)
			eventually(t, func() bool { return tcp.Pause() == nil }, "transitions to be allowed again")
			require.NoError(t, tcp.Resume())
			assertServedBy(t, "old", "tcp", tcp.Addr().String())
			assert.Equal(t, acceptgate.Rejecting, rej.State())
			_, err = net.Dial("unix", rej.Addr().String())
			assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the rejecting gate refuses still")
			require.NoError(t, rej.Resume())
			assertServedBy(t, "old", "unix", rej.Addr().String())
			eventually(t, func() bool { return openFiles(t) <= before }, "no descriptor left behind")

			var got []change
			for len(changes) > 0 {
				got = append(got, <-changes)
			}
			assert.Equal(t, []change{
				{acceptgate.Accepting, acceptgate.Paused}, {acceptgate.Paused, acceptgate.Accepting}, // the exchange and its undoing
				{acceptgate.Accepting, acceptgate.Paused}, {acceptgate.Paused, acceptgate.Accepting}, // the test's own
			}, got)
		})
	}
}
