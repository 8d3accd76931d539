package acceptgate

import (
	"io"
	"net"
	"syscall"
)

// The optional interfaces a tracked conn passes on from the connection it
// wraps. net/http half-closes with CloseWrite before it closes a connection
// whose request it did not read to the end, so that the client reads the
// response instead of a reset; io.Copy reaches sendfile and splice through
// ReadFrom and WriteTo, and os.File.WriteTo through SyscallConn.
type (
	closeWriter interface{ CloseWrite() error }
	closeReader interface{ CloseRead() error }
	rawConner   interface {
		SyscallConn() (syscall.RawConn, error)
	}
)

// A shape is the set of optional interfaces a connection has, one bit each.
type shape uint8

const (
	hasCloseWrite shape = 1 << iota
	hasCloseRead
	hasReadFrom
	hasWriteTo
	hasSyscallConn
)

// optional is a connection seen through each optional interface it has.
type optional struct {
	shape shape
	cw    closeWriter
	cr    closeReader
	rf    io.ReaderFrom
	wt    io.WriterTo
	sc    rawConner
}

func optionalOf(c net.Conn) optional {
	var o optional
	var ok bool
	if o.cw, ok = c.(closeWriter); ok {
		o.shape |= hasCloseWrite
	}
	if o.cr, ok = c.(closeReader); ok {
		o.shape |= hasCloseRead
	}
	if o.rf, ok = c.(io.ReaderFrom); ok {
		o.shape |= hasReadFrom
	}
	if o.wt, ok = c.(io.WriterTo); ok {
		o.shape |= hasWriteTo
	}
	if o.sc, ok = c.(rawConner); ok {
		o.shape |= hasSyscallConn
	}
	return o
}

// shapedConn is what every shape of tracked conn is: a net.Conn with the conn
// that holds its place in the Listener.
type shapedConn interface {
	net.Conn
	tracked() *conn
}

func (c *conn) tracked() *conn { return c }

// There is one type for each shape, so that a type assertion on a tracked
// conn succeeds exactly when it does on the connection inside: a tracked
// *net.TCPConn has all five interfaces, a tracked *net.UnixConn CloseWrite,
// CloseRead and SyscallConn, a tracked net.Pipe none. The methods are the
// embedded interfaces', so they call the inner connection's own directly
// ((*net.TCPConn).ReadFrom then still reaches sendfile and splice), and none
// of them, CloseWrite included, gives the slot back: only Close does. Letters
// name the interfaces: W CloseWrite, R CloseRead, F ReadFrom, T WriteTo,
// S SyscallConn. connshape_gen.go writes the types and newShaped into
// connshape_table.go; TestEveryShapeHasExactlyItsInterfaces checks them.
//
//go:generate go run connshape_gen.go
