package bench

import (
	"context"
	"net"
)

// Net is where an experiment's server and clients live when they are not
// both on loopback: two network namespaces a round trip apart, for one
// (go run ./lab soak -rtt builds them). A nil Net is loopback.
type Net interface {
	// Addr is the IP address the server listens on.
	Addr() string
	// Server calls f where the server lives: the sockets f makes belong
	// there, and what a gate call in f asks the kernel about its network
	// (its interfaces, its handshakes under way) is answered there.
	Server(f func() error) error
	// Dial connects a client to address.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

// onServer calls f where n's server lives, or here for loopback.
func onServer(n Net, f func() error) error {
	if n == nil {
		return f()
	}
	return n.Server(f)
}

// serverHost is the IP address an experiment's gate listens on.
func serverHost(n Net) string {
	if n == nil {
		return "127.0.0.1"
	}
	return n.Addr()
}

// dialer returns how n's clients connect, or nil for loopback.
func dialer(n Net) func(ctx context.Context, network, address string) (net.Conn, error) {
	if n == nil {
		return nil
	}
	return n.Dial
}
