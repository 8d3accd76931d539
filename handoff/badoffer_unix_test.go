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

	"github.com/acceptgate/acceptgate/handoff"
)

// fakeOffer speaks the offer's side of the exchange by hand, so that a test
// can send sockets that do not match their description. It answers one
// taker: it reads hello, sends sockets with files, and reports what the
// taker answered (its error message, or "ready").
func fakeOffer(t *testing.T, sockets []map[string]any, files []*os.File) (path string, answer <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fake.sock")
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
	dir := t.TempDir()
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
