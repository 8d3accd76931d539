//go:build unix && !linux

package sockets

import (
	"context"
	"net"
)

// ListenPrivate listens on a unix socket at path that only its owner
// may connect to. These systems take a new socket file's mode from the umask
// alone, so the socket is bound where no other user can reach it first; see
// ListenViaPrivateDir.
func ListenPrivate(ctx context.Context, network, path string) (net.Listener, error) {
	return ListenViaPrivateDir(ctx, network, path)
}
