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

// tracker is what every shape of tracked conn is: a net.Conn with the conn
// that holds its place in the Listener.
type tracker interface {
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
// S SyscallConn. TestEveryShapeHasExactlyItsInterfaces checks the table.
type (
	connW struct {
		conn
		closeWriter
	}
	connR struct {
		conn
		closeReader
	}
	connWR struct {
		conn
		closeWriter
		closeReader
	}
	connF struct {
		conn
		io.ReaderFrom
	}
	connWF struct {
		conn
		closeWriter
		io.ReaderFrom
	}
	connRF struct {
		conn
		closeReader
		io.ReaderFrom
	}
	connWRF struct {
		conn
		closeWriter
		closeReader
		io.ReaderFrom
	}
	connT struct {
		conn
		io.WriterTo
	}
	connWT struct {
		conn
		closeWriter
		io.WriterTo
	}
	connRT struct {
		conn
		closeReader
		io.WriterTo
	}
	connWRT struct {
		conn
		closeWriter
		closeReader
		io.WriterTo
	}
	connFT struct {
		conn
		io.ReaderFrom
		io.WriterTo
	}
	connWFT struct {
		conn
		closeWriter
		io.ReaderFrom
		io.WriterTo
	}
	connRFT struct {
		conn
		closeReader
		io.ReaderFrom
		io.WriterTo
	}
	connWRFT struct {
		conn
		closeWriter
		closeReader
		io.ReaderFrom
		io.WriterTo
	}
	connS struct {
		conn
		rawConner
	}
	connWS struct {
		conn
		closeWriter
		rawConner
	}
	connRS struct {
		conn
		closeReader
		rawConner
	}
	connWRS struct {
		conn
		closeWriter
		closeReader
		rawConner
	}
	connFS struct {
		conn
		io.ReaderFrom
		rawConner
	}
	connWFS struct {
		conn
		closeWriter
		io.ReaderFrom
		rawConner
	}
	connRFS struct {
		conn
		closeReader
		io.ReaderFrom
		rawConner
	}
	connWRFS struct {
		conn
		closeWriter
		closeReader
		io.ReaderFrom
		rawConner
	}
	connTS struct {
		conn
		io.WriterTo
		rawConner
	}
	connWTS struct {
		conn
		closeWriter
		io.WriterTo
		rawConner
	}
	connRTS struct {
		conn
		closeReader
		io.WriterTo
		rawConner
	}
	connWRTS struct {
		conn
		closeWriter
		closeReader
		io.WriterTo
		rawConner
	}
	connFTS struct {
		conn
		io.ReaderFrom
		io.WriterTo
		rawConner
	}
	connWFTS struct {
		conn
		closeWriter
		io.ReaderFrom
		io.WriterTo
		rawConner
	}
	connRFTS struct {
		conn
		closeReader
		io.ReaderFrom
		io.WriterTo
		rawConner
	}
	connWRFTS struct {
		conn
		closeWriter
		closeReader
		io.ReaderFrom
		io.WriterTo
		rawConner
	}
)

// newShaped allocates the tracked conn of o's shape, holding o's interfaces; its
// conn is left for the caller to fill.
func newShaped(o optional) tracker {
	switch o.shape {
	case hasCloseWrite:
		return &connW{closeWriter: o.cw}
	case hasCloseRead:
		return &connR{closeReader: o.cr}
	case hasCloseWrite | hasCloseRead:
		return &connWR{closeWriter: o.cw, closeReader: o.cr}
	case hasReadFrom:
		return &connF{ReaderFrom: o.rf}
	case hasCloseWrite | hasReadFrom:
		return &connWF{closeWriter: o.cw, ReaderFrom: o.rf}
	case hasCloseRead | hasReadFrom:
		return &connRF{closeReader: o.cr, ReaderFrom: o.rf}
	case hasCloseWrite | hasCloseRead | hasReadFrom:
		return &connWRF{closeWriter: o.cw, closeReader: o.cr, ReaderFrom: o.rf}
	case hasWriteTo:
		return &connT{WriterTo: o.wt}
	case hasCloseWrite | hasWriteTo:
		return &connWT{closeWriter: o.cw, WriterTo: o.wt}
	case hasCloseRead | hasWriteTo:
		return &connRT{closeReader: o.cr, WriterTo: o.wt}
	case hasCloseWrite | hasCloseRead | hasWriteTo:
		return &connWRT{closeWriter: o.cw, closeReader: o.cr, WriterTo: o.wt}
	case hasReadFrom | hasWriteTo:
		return &connFT{ReaderFrom: o.rf, WriterTo: o.wt}
	case hasCloseWrite | hasReadFrom | hasWriteTo:
		return &connWFT{closeWriter: o.cw, ReaderFrom: o.rf, WriterTo: o.wt}
	case hasCloseRead | hasReadFrom | hasWriteTo:
		return &connRFT{closeReader: o.cr, ReaderFrom: o.rf, WriterTo: o.wt}
	case hasCloseWrite | hasCloseRead | hasReadFrom | hasWriteTo:
		return &connWRFT{closeWriter: o.cw, closeReader: o.cr, ReaderFrom: o.rf, WriterTo: o.wt}
	case hasSyscallConn:
		return &connS{rawConner: o.sc}
	case hasCloseWrite | hasSyscallConn:
		return &connWS{closeWriter: o.cw, rawConner: o.sc}
	case hasCloseRead | hasSyscallConn:
		return &connRS{closeReader: o.cr, rawConner: o.sc}
	case hasCloseWrite | hasCloseRead | hasSyscallConn:
		return &connWRS{closeWriter: o.cw, closeReader: o.cr, rawConner: o.sc}
	case hasReadFrom | hasSyscallConn:
		return &connFS{ReaderFrom: o.rf, rawConner: o.sc}
	case hasCloseWrite | hasReadFrom | hasSyscallConn:
		return &connWFS{closeWriter: o.cw, ReaderFrom: o.rf, rawConner: o.sc}
	case hasCloseRead | hasReadFrom | hasSyscallConn:
		return &connRFS{closeReader: o.cr, ReaderFrom: o.rf, rawConner: o.sc}
	case hasCloseWrite | hasCloseRead | hasReadFrom | hasSyscallConn:
		return &connWRFS{closeWriter: o.cw, closeReader: o.cr, ReaderFrom: o.rf, rawConner: o.sc}
	case hasWriteTo | hasSyscallConn:
		return &connTS{WriterTo: o.wt, rawConner: o.sc}
	case hasCloseWrite | hasWriteTo | hasSyscallConn:
		return &connWTS{closeWriter: o.cw, WriterTo: o.wt, rawConner: o.sc}
	case hasCloseRead | hasWriteTo | hasSyscallConn:
		return &connRTS{closeReader: o.cr, WriterTo: o.wt, rawConner: o.sc}
	case hasCloseWrite | hasCloseRead | hasWriteTo | hasSyscallConn:
		return &connWRTS{closeWriter: o.cw, closeReader: o.cr, WriterTo: o.wt, rawConner: o.sc}
	case hasReadFrom | hasWriteTo | hasSyscallConn:
		return &connFTS{ReaderFrom: o.rf, WriterTo: o.wt, rawConner: o.sc}
	case hasCloseWrite | hasReadFrom | hasWriteTo | hasSyscallConn:
		return &connWFTS{closeWriter: o.cw, ReaderFrom: o.rf, WriterTo: o.wt, rawConner: o.sc}
	case hasCloseRead | hasReadFrom | hasWriteTo | hasSyscallConn:
		return &connRFTS{closeReader: o.cr, ReaderFrom: o.rf, WriterTo: o.wt, rawConner: o.sc}
	case hasCloseWrite | hasCloseRead | hasReadFrom | hasWriteTo | hasSyscallConn:
		return &connWRFTS{closeWriter: o.cw, closeReader: o.cr, ReaderFrom: o.rf, WriterTo: o.wt, rawConner: o.sc}
	default: // none: the connection is a plain net.Conn
		return new(conn)
	}
}
