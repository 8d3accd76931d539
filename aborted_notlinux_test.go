//go:build !linux

package acceptgate_test

import (
	"net"
	"testing"

	"github.com/acceptgate/acceptgate"
)

// Where the gate cannot tell a client gave up, there is nothing to wait for.
func waitGaveUpSeen(*testing.T, *acceptgate.Listener, net.Conn, bool) {}

func waitServerSideClosed(*testing.T, *acceptgate.Listener, net.Conn) {}
