//go:build !unix

package sockets

import (
	"io"
	"net"
)

// Reserve would bind a socket to ip:port that never listens; see the Unix
// documentation. Here it reserves nothing: it returns a nil Closer and no
// error, as for an address this host does not have.
func Reserve(ip net.IP, port int) (io.Closer, error) { return nil, nil }
