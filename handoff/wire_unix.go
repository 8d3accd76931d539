//go:build unix

package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate/internal/handover"
)

// The messages of the exchange, one per packet of a SOCK_SEQPACKET unix
// socket, so that each arrives whole with the descriptors sent with it.
const (
	opHello     = "hello"     // taker: the version it speaks
	opSockets   = "sockets"   // offer: the sockets, with their descriptors
	opReady     = "ready"     // taker: holding every socket, serving
	opGo        = "go"        // offer: take them
	opAccepting = "accepting" // taker: every gate in its state
	opDone      = "done"      // offer: let go of them
	opError     = "error"     // either: giving up, with why
)

type message struct {
	Op      string   `json:"op"`
	Version int      `json:"version,omitempty"`
	PID     int      `json:"pid,omitempty"`
	Started string   `json:"started,omitempty"` // RFC 3339, when the offering process started
	Sockets []socket `json:"sockets,omitempty"`
	// SaysRollback, with the sockets, promises that the offer says so
	// (opError) whenever it rolls back from then on: a connection that
	// ends without that word means the offering process ended, and its
	// copies of the sockets with it.
	SaysRollback bool   `json:"says_rollback,omitempty"`
	Error        string `json:"error,omitempty"`
}

// socket is one gate's socket on the wire.
type socket struct {
	Name string `json:"name"`
	handover.Socket
}

// conn is one side of an exchange: every read and write is bounded by the
// step timeout.
type conn struct {
	c       *net.UnixConn
	timeout time.Duration
	// ctx, while set (see watch), ends the exchange: a step under way when
	// it is done is woken, and a later one fails before it begins, even
	// though each step sets a deadline of its own.
	ctx context.Context
	// unwatch, while set, ends watch's hold, as its stop does.
	unwatch func()
	// buf and oob are what a read fills (see buffers).
	buf, oob []byte
}

// buffers returns the buffers a read of the next message fills, made on
// the first read and used again by the next: a message is parsed (and
// copied out) before the next read, and a buffer for the largest message
// made anew for every one of them was most of what an exchange allocated.
func (c *conn) buffers() (buf, oob []byte) {
	if c.buf == nil {
		c.buf = make([]byte, maxMessage+1)
		c.oob = make([]byte, unix.CmsgSpace(4*maxFiles))
	}
	return c.buf, c.oob
}

// watch has ctx end the exchange until stop is called.
func (c *conn) watch(ctx context.Context) (stop func()) {
	c.ctx = ctx
	wake := wakeOnDone(ctx, c.c.SetDeadline)
	stop = func() {
		wake()
		c.ctx = nil
		c.unwatch = nil
	}
	c.unwatch = stop
	return stop
}

// wakeOnDone sets a past deadline with setDeadline once ctx is done, to
// wake a read, write or accept blocked on the socket. stop ends it and, if
// the wake-up has begun, waits until it is over, so that a deadline set
// after stop returns is never replaced by a late wake-up. stop may be
// called more than once.
func wakeOnDone(ctx context.Context, setDeadline func(time.Time) error) (stop func()) {
	woken := make(chan struct{})
	after := context.AfterFunc(ctx, func() {
		defer close(woken)
		setDeadline(time.Unix(1, 0))
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !after() {
				<-woken
			}
		})
	}
}

// ended returns why the exchange ended, once the watched context is done.
// It is asked after a step sets its deadline: a wake-up that came before
// that deadline replaced it is not lost.
func (c *conn) ended() error {
	if c.ctx != nil && c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	return nil
}

func (c *conn) send(m message, fds []int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("message of %d bytes is over the limit of %d", len(b), maxMessage)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.c.SetWriteDeadline(time.Now().Add(c.timeout))
	if err := c.ended(); err != nil {
		return err
	}
	_, _, err = c.c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads the next message, which must be op (or an error from the
// peer), and the descriptors that came with it. A message with descriptors
// where none belong has them closed.
func (c *conn) recv(op string) (message, []*os.File, error) {
	buf, oob := c.buffers()
	c.c.SetReadDeadline(time.Now().Add(c.timeout))
	if err := c.ended(); err != nil {
		return message{}, nil, err
	}
	n, oobn, flags, _, err := c.c.ReadMsgUnix(buf, oob)
	if errors.Is(err, syscall.ECONNRESET) {
		// The peer closed before it read all that was sent to it; what it
		// sent before it closed is still queued here, and says more.
		n, oobn, flags, _, err = c.c.ReadMsgUnix(buf, oob)
	}
	return c.parse(op, buf, oob, n, oobn, flags, err)
}

// errNothingQueued: recvQueued found no message waiting.
var errNothingQueued = errors.New("nothing queued")

// recvQueued reads the next message, as recv does, if one is already
// queued, and fails with errNothingQueued if none is, without waiting. A
// peer that hung up reads as io.EOF. It is what the peer said by now, even
// when a deadline passed or the watched context ended: stop the watch
// first, so that its wake-up sets no deadline meanwhile.
func (c *conn) recvQueued(op string) (message, []*os.File, error) {
	rc, err := c.c.SyscallConn()
	if err != nil {
		return message{}, nil, err
	}
	buf, oob := c.buffers()
	// A past deadline fails a read before it begins.
	c.c.SetReadDeadline(time.Time{})
	var n, oobn, flags int
	var rerr error
	read := func() {
		err = rc.Read(func(fd uintptr) bool {
			// The descriptor is non-blocking: EAGAIN when nothing waits.
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return true
		})
		if err == nil {
			err = rerr
		}
	}
	read()
	if errors.Is(err, syscall.ECONNRESET) {
		read() // as in recv
	}
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return message{}, nil, errNothingQueued
	case err == nil && n == 0:
		err = io.EOF
	case err != nil:
		err = os.NewSyscallError("recvmsg", err)
	}
	return c.parse(op, buf, oob, n, oobn, flags, err)
}

// parse checks what a read of the next message, which must be op, gave.
func (c *conn) parse(op string, buf, oob []byte, n, oobn, flags int, err error) (message, []*os.File, error) {
	if errors.Is(err, io.EOF) {
		return message{}, nil, fmt.Errorf("the peer hung up before %q: %w", op, io.EOF)
	}
	if err != nil {
		return message{}, nil, err
	}
	files, ferr := parseRights(oob[:oobn])
	fail := func(err error) (message, []*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return message{}, nil, err
	}
	if ferr != nil {
		return fail(ferr)
	}
	if n == 0 {
		return fail(fmt.Errorf("empty message where %q belongs", op))
	}
	if flags&unix.MSG_TRUNC != 0 || n > maxMessage {
		return fail(fmt.Errorf("message over the limit of %d bytes", maxMessage))
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return fail(fmt.Errorf("more descriptors than the limit of %d", maxFiles))
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return fail(fmt.Errorf("malformed message: %w", err))
	}
	if m.Op == opError {
		return fail(refused(clip(m.Error)))
	}
	if m.Op != op {
		return fail(fmt.Errorf("got %q, want %q", clip(m.Op), op))
	}
	if op != opSockets && len(files) > 0 {
		return fail(fmt.Errorf("descriptors sent with %q", op))
	}
	return m, files, nil
}

// awaitAfterGo waits for the peer's word after the go, op or an error. A
// peer silent past the step timeout is waited for again, until the time
// limit passes or the watched context ends; then a word already queued
// still counts, and if there is none, the error says why the wait ended
// (a timeout, or the context's cause). After the go a silence proves
// nothing: the taker may be serving, or the offer about to say done. It
// stops the watch.
func (c *conn) awaitAfterGo(op string, limit time.Time) error {
	defer c.unwatchIfSet()
	for {
		_, _, err := c.recv(op)
		cause := c.ended()
		// recv returns the cause itself when it did not read.
		if !errors.Is(err, os.ErrDeadlineExceeded) && (cause == nil || err != cause) {
			return err // a word, an end or a failure: it decides
		}
		if cause == nil && time.Now().Before(limit) {
			continue
		}
		why := err
		if cause != nil {
			why = cause
		}
		c.unwatchIfSet()
		if _, _, err := c.recvQueued(op); !errors.Is(err, errNothingQueued) {
			return err
		}
		return why
	}
}

// unwatchIfSet ends watch's hold, if one is on.
func (c *conn) unwatchIfSet() {
	if c.unwatch != nil {
		c.unwatch()
	}
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, os.NewSyscallError("parse control message", err)
	}
	var files []*os.File
	var errs error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			errs = fmt.Errorf("control message: %w", err)
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "handed over"))
		}
	}
	if errs != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, errs
	}
	return files, nil
}

// refuse tells the peer why the exchange ends, as best it can, even when
// the watched context ended it: the word is what tells the peer a
// rollback from a death.
func (c *conn) refuse(err error) {
	c.unwatchIfSet()
	c.send(message{Op: opError, Error: err.Error()}, nil)
}

// clip keeps a peer's text short and printable for error messages and logs.
func clip(s string) string {
	const max = 200
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if len(out) == max {
			out = append(out, '…')
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
