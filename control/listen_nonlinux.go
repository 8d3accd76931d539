//go:build unix && !linux

package control

import (
	"context"
	"net"
)

// listenPrivateSocket listens on a unix socket at path that only its owner
// may connect to. These systems take a new socket file's mode from the umask
// alone, so the socket is bound where no other user can reach it first; see
// listenViaPrivateDir.
func listenPrivateSocket(ctx context.Context, path string) (net.Listener, error) {
	return listenViaPrivateDir(ctx, path)
}
