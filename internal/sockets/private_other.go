//go:build !unix

package sockets

import (
	"context"
	"net"
)

// ListenPrivate listens on a unix socket at path. Windows has no file
// modes: the socket file takes the access control list its directory passes
// on, which this does not change, so put the socket in a directory only its
// owner may open (such as one under %LOCALAPPDATA%).
func ListenPrivate(ctx context.Context, network, path string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, network, path)
}

// CheckPrivate has no file mode to check here; see ListenPrivate.
func CheckPrivate(string) error { return nil }
