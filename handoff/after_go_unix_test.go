//go:build unix

package handoff_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// rawTaker speaks the exchange by hand, to be slow or silent where a
// Takeover never is.
type rawTaker struct {
	c    *net.UnixConn
	held []*os.File
}

func dialRaw(t *testing.T, path string) *rawTaker {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	require.NoError(t, err)
	r := &rawTaker{c: c.(*net.UnixConn)}
	r.c.SetDeadline(time.Now().Add(patience))
	t.Cleanup(r.close)
	return r
}

func (r *rawTaker) close() {
	r.c.Close()
	for _, f := range r.held {
		f.Close()
	}
	r.held = nil
}

func (r *rawTaker) send(t *testing.T, op string) {
	t.Helper()
	require.NoError(t, r.say(op))
}

func (r *rawTaker) say(op string) error {
	b, _ := json.Marshal(map[string]any{"op": op, "version": handoff.Version})
	_, err := r.c.Write(b)
	return err
}

func (r *rawTaker) recv(t *testing.T, want string) {
	t.Helper()
	got, err := r.hear()
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// hear reads the next message, keeps the descriptors that came with it,
// and returns its op.
func (r *rawTaker) hear() (string, error) {
	buf, oob := make([]byte, 1<<16), make([]byte, 4096)
	n, oobn, _, _, err := r.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return "", err
	}
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return "", err
		}
		for _, fd := range fds {
			r.held = append(r.held, os.NewFile(uintptr(fd), "taken"))
		}
	}
	var m struct{ Op string }
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return "", err
	}
	return m.Op, nil
}

// The test binary, started again with rawTakerEnv set, is a taker that
// goes as far as the go, says "go" on stdout, and then says nothing more
// until it is killed or its stdin ends.
const rawTakerEnv = "ACCEPTGATE_HANDOFF_RAW_TAKER"

func rawTakerChild(path string) int {
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	r := &rawTaker{c: c.(*net.UnixConn)}
	defer r.close()
	for _, step := range [][2]string{{"hello", "sockets"}, {"ready", "go"}} {
		if err := r.say(step[0]); err != nil {
			fmt.Println(step[0]+":", err)
			return 1
		}
		if got, err := r.hear(); err != nil || got != step[1] {
			fmt.Printf("want %s: got %q, %v\n", step[1], got, err)
			return 1
		}
	}
	fmt.Println("go")
	os.Stdin.Read(make([]byte, 1))
	return 0
}

// A taker killed after the go, before its accepting, takes its copies
// with it: its connection ends, which is what tells its death, and the old
// process serves again at once, not after a timeout.
func TestATakerKilledAfterTheGoLeavesTheOldProcessServing(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	// Longer than every wait here: only the taker's end makes the offer
	// roll back.
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": old}, handoff.WithTimeout(4*patience))
	p := startTestBinary(t, nil, rawTakerEnv+"="+path)
	require.Equal(t, "go", p.line(t))
	assert.NotEqual(t, acceptgate.Accepting, old.State(), "strictly paused after the go")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	var ee *exec.ExitError
	require.ErrorAs(t, p.cmd.Wait(), &ee)
	require.False(t, ee.Exited(), "killed, not exited")
	eventually(t, func() bool { return old.State() == acceptgate.Accepting }, "the old process to serve again")
	assertServedBy(t, "old", "tcp", old.Addr().String())
}

// A taker silent after the go for longer than three step timeouts is not
// waited for any longer: the offer says it rolls back, so that the taker
// steps back when it hears it, and serves again.
func TestATakerSilentLongAfterTheGoIsToldTheOfferRollsBack(t *testing.T) {
	old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer old.Close()
	stopOld := serveLines(old, "old")
	defer stopOld()
	const step = 200 * time.Millisecond
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": old}, handoff.WithTimeout(step))
	tk := dialRaw(t, path)
	tk.send(t, "hello")
	tk.recv(t, "sockets")
	tk.send(t, "ready")
	tk.recv(t, "go")
	went := time.Now()
	tk.recv(t, "error")
	assert.GreaterOrEqual(t, time.Since(went), 2*step, "the rollback came after three timeouts, not one")
	eventually(t, func() bool { return old.State() == acceptgate.Accepting }, "the old process to serve again")
	assertServedBy(t, "old", "tcp", old.Addr().String())
}

// afterGoOffer is an offer, by hand, of ln's socket that says go when the
// taker is ready and then does what then says: "rollback" says it rolls
// back at once (as an older build did once its timeout passed), "refuse"
// reads the accepting and says it rolls back, "hangup" reads the accepting
// and ends without a word (as a process killed then does).
func afterGoOffer(t *testing.T, ln *net.TCPListener, then string) (path string) {
	t.Helper()
	fd := int(listenerFile(t, ln).Fd()) // closed after the goroutine ends
	path = filepath.Join(shortDir(t), "fake.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		l.SetDeadline(time.Now().Add(patience))
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(patience))
		say := func(m map[string]any, oob []byte) error {
			b, _ := json.Marshal(m)
			_, _, err := c.WriteMsgUnix(b, oob, nil)
			return err
		}
		hear := func() (string, error) {
			buf := make([]byte, 1<<16)
			n, err := c.Read(buf)
			if err != nil {
				return "", err
			}
			var m struct{ Op string }
			return m.Op, json.Unmarshal(buf[:n], &m)
		}
		sock := map[string]any{"name": "g", "network": "tcp4", "address": ln.Addr().String(), "state": "accepting", "files": 1}
		if op, err := hear(); err != nil || op != "hello" {
			return
		}
		if say(map[string]any{"op": "sockets", "version": handoff.Version, "pid": 1, "says_rollback": true,
			"sockets": []any{sock}}, syscall.UnixRights(fd)) != nil {
			return
		}
		if op, err := hear(); err != nil || op != "ready" {
			return
		}
		if say(map[string]any{"op": "go"}, nil) != nil {
			return
		}
		if then == "rollback" {
			say(map[string]any{"op": "error", "error": "no accepting within the timeout"}, nil)
			return
		}
		if op, err := hear(); err != nil || op != "accepting" {
			return
		}
		if then == "refuse" {
			say(map[string]any{"op": "error", "error": "rolled back"}, nil)
		}
	}()
	return path
}

// A taker that hears a rollback after its go, before or after it said
// accepting, steps back: the gates are closed without touching their
// sockets, and Commit says so. The old process serves them again, and two
// must not.
func TestATakerThatHearsARollbackAfterItsGoStepsBack(t *testing.T) {
	for _, then := range []string{"rollback", "refuse"} {
		t.Run(then, func(t *testing.T) {
			ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(t, err)
			defer ln.Close()
			tk, err := handoff.Take(context.Background(), afterGoOffer(t, ln, then))
			require.NoError(t, err)
			g := tk.Listeners()["g"]
			defer g.Close()
			err = tk.Commit(context.Background())
			assert.ErrorIs(t, err, handoff.ErrRefused)
			assert.Equal(t, acceptgate.Closed, g.State(), "stepped back: %v", err)
			// The socket is untouched: the old process's copy serves.
			c, err := net.DialTimeout("tcp", ln.Addr().String(), patience)
			require.NoError(t, err)
			c.Close()
			ln.SetDeadline(time.Now().Add(patience))
			a, err := ln.Accept()
			require.NoError(t, err)
			a.Close()
		})
	}
}

// The old process ending without a word after the go (killed, crashed)
// leaves the taker's copies the only ones: Commit says it did not confirm,
// and the gates serve here.
func TestAnOldProcessThatEndsAfterTheGoLeavesTheTakerServing(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	tk, err := handoff.Take(context.Background(), afterGoOffer(t, ln, "hangup"))
	require.NoError(t, err)
	g := tk.Listeners()["g"]
	defer g.Close()
	stopNew := serveLines(g, "new")
	defer stopNew()
	err = tk.Commit(context.Background())
	require.Error(t, err)
	assert.False(t, errors.Is(err, handoff.ErrRefused), "nobody refused: %v", err)
	assert.Equal(t, acceptgate.Accepting, g.State())
	ln.Close() // as at the old process's death
	assertServedBy(t, "new", "tcp", g.Addr().String())
}

// An offer closed, or whose Serve's context ends, while it waits for a
// silent taker after the go does not wait on: it rolls back at once and
// says so, so that the taker steps back when it hears it.
func TestAnOfferClosedAfterTheGoRollsBackAndSaysSo(t *testing.T) {
	for _, how := range []struct {
		name string
		want error
	}{{"close", net.ErrClosed}, {"cancel", context.Canceled}} {
		t.Run(how.name, func(t *testing.T) {
			old, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer old.Close()
			stopOld := serveLines(old, "old")
			defer stopOld()
			path := filepath.Join(shortDir(t), "handoff.sock")
			o, err := handoff.Listen(context.Background(), path, map[string]*acceptgate.Listener{"g": old},
				handoff.WithTimeout(4*patience))
			require.NoError(t, err)
			defer o.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- o.Serve(ctx) }()

			tk := dialRaw(t, path)
			tk.send(t, "hello")
			tk.recv(t, "sockets")
			tk.send(t, "ready")
			tk.recv(t, "go")
			if how.name == "close" {
				require.NoError(t, o.Close())
			} else {
				cancel()
			}
			tk.recv(t, "error")
			select {
			case err := <-served:
				assert.ErrorIs(t, err, how.want)
			case <-time.After(patience):
				t.Fatal("Serve did not return")
			}
			assert.Equal(t, acceptgate.Accepting, old.State())
			assertServedBy(t, "old", "tcp", old.Addr().String())
		})
	}
}
