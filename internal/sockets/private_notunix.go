//go:build !unix

package sockets

import (
	"context"
	"net"
)

// ListenPrivate listens on a unix socket at path. Windows has no file
// modes: the socket file takes the access control list its directory passes
// on, which this does not change, so put the socket in a directory only its
// owner may open (such as one under %LOCALAPPDATA%). An abstract name,
// which no ACL guards, is refused (see refuseAbstract).
func ListenPrivate(ctx context.Context, network, path string) (net.Listener, error) {
	if err := refuseAbstract(path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, network, path)
}

// CheckPrivate has no file mode or owner to check here, only the name; see
// ListenPrivate.
func CheckPrivate(path string) error { return refuseAbstract(path) }

// CheckOwnerOnly has no file mode or owner to check here, only the name;
// see ListenPrivate.
func CheckOwnerOnly(path string) error { return refuseAbstract(path) }
