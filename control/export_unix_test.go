//go:build unix

package control

import (
	"context"
	"net"

	"github.com/acceptgate/acceptgate/internal/sockets"
)

// ListenViaPrivateDir is the way other Unix systems make a private socket;
// it works on Linux too, so it is tested here.
func ListenViaPrivateDir(ctx context.Context, path string) (net.Listener, error) {
	return sockets.ListenViaPrivateDir(ctx, "unix", path)
}
