package acceptgate

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEveryShapeHasExactlyItsInterfaces checks the table in connshape.go:
// the tracked conn made for each set of optional interfaces has that set, no
// more and no less, and the NetConn and tracked methods of every tracked conn.
func TestEveryShapeHasExactlyItsInterfaces(t *testing.T) {
	for s := shape(0); s < hasSyscallConn<<1; s++ {
		c := newShaped(optional{shape: s})
		assert.Equal(t, s, optionalOf(c).shape, "shape %05b is %T", s, c)
		_, ok := c.(interface{ NetConn() net.Conn })
		assert.True(t, ok, "%T has no NetConn", c)
		assert.NotNil(t, c.tracked())
	}
}
