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

// shapeOf returns the set of optional interfaces c has.
func shapeOf(c net.Conn) shape {
	var s shape
	if _, ok := c.(closeWriter); ok {
		s |= hasCloseWrite
	}
	if _, ok := c.(closeReader); ok {
		s |= hasCloseRead
	}
	if _, ok := c.(io.ReaderFrom); ok {
		s |= hasReadFrom
	}
	if _, ok := c.(io.WriterTo); ok {
		s |= hasWriteTo
	}
	if _, ok := c.(rawConner); ok {
		s |= hasSyscallConn
	}
	return s
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
// inner connection's own, reached by a type assertion at each call, so that
// a tracked conn holds no interface beside the connection itself (48 bytes
// whatever its shape; storing each interface took 128 for a *net.TCPConn):
// (*net.TCPConn).ReadFrom still reaches sendfile and splice, and none of
// them, CloseWrite included, gives the slot back: only Close does. Letters
// name the interfaces: W CloseWrite, R CloseRead, F ReadFrom, T WriteTo,
// S SyscallConn. connshape_gen.go writes the types and newShaped into
// connshape_table.go; TestEveryShapeHasExactlyItsInterfaces checks them.
//
//go:generate go run connshape_gen.go
