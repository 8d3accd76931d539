//go:build !unix

package control

import (
	"context"
	"net"
)

// listenPrivateSocket listens on a unix socket at path. Windows has no file
// modes: the socket file takes the access control list its directory passes
// on, which this does not change, so put the socket in a directory only its
// owner may open (such as one under %LOCALAPPDATA%).
func listenPrivateSocket(ctx context.Context, path string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "unix", path)
}

// checkPrivate has no file mode to check here; see listenPrivateSocket.
func checkPrivate(string) error { return nil }
