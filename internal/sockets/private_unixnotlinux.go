//go:build unix && !linux

package sockets

import (
	"context"
	"net"
)

// ListenPrivate listens on a unix socket at path that only its owner
// may connect to. These systems take a new socket file's mode from the umask
// alone, so the socket is bound where no other user can reach it first; see
// ListenViaPrivateDir. An abstract name is refused (see refuseAbstract).
func ListenPrivate(ctx context.Context, network, path string) (net.Listener, error) {
	if err := refuseAbstract(path); err != nil {
		return nil, err
	}
	return ListenViaPrivateDir(ctx, network, path)
}
