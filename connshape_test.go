package acceptgate

import (
	"net"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEveryShapeHasExactlyItsInterfaces checks the table in connshape.go:
// the tracked conn made for each set of optional interfaces has that set, no
// more and no less, and the NetConn and tracked methods of every tracked conn.
func TestEveryShapeHasExactlyItsInterfaces(t *testing.T) {
	for s := shape(0); s < hasSyscallConn<<1; s++ {
		c := newShaped(s)
		assert.Equal(t, s, shapeOf(c), "shape %05b is %T", s, c)
		_, ok := c.(interface{ NetConn() net.Conn })
		assert.True(t, ok, "%T has no NetConn", c)
		assert.NotNil(t, c.tracked())
	}
}

// A tracked conn costs what LimitListener's wrapper costs, 64 bytes at
// most, whatever its shape: the optional interfaces are reached through
// the connection inside, not stored beside it.
func TestATrackedConnFitsInSixtyFourBytes(t *testing.T) {
	for s := shape(0); s < hasSyscallConn<<1; s++ {
		c := newShaped(s)
		assert.LessOrEqual(t, reflect.TypeOf(c).Elem().Size(), uintptr(64), "%T", c)
	}
}
