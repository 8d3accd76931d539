package sockets

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// StopListening makes ln's socket stop listening while its descriptor stays
// open: new clients are refused (ECONNREFUSED) and goroutines blocked in
// ln.Accept fail. Connections still in the accept queue are reset by the
// kernel: take them out with AcceptQueued first. A socket bound to port 0
// loses its port: HoldPort takes it back. Relisten listens again.
//
// It needs a TCP socket on Linux; a unix socket cannot listen again after
// this, so it is refused with an error wrapping errors.ErrUnsupported.
func StopListening(ln net.Listener) error {
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return fmt.Errorf("stop listening on %s socket: %w", ln.Addr().Network(), errUnsupported)
	}
	return control(ln, func(fd int) error {
		return os.NewSyscallError("shutdown", unix.Shutdown(fd, unix.SHUT_RD))
	})
}

// HoldPort keeps the address of a socket stopped by StopListening from
// being taken until it listens again. It binds the socket to its address
// again, since a socket bound to port 0 gave its port back at shutdown, and
// then clears SO_REUSEADDR, without which no other socket may bind the port
// while this one is not listening. release restores SO_REUSEADDR; call it
// before Relisten.
func HoldPort(ln net.Listener) (release func() error, err error) {
	var reuse int
	err = control(ln, func(fd int) error {
		sa, err := boundAddr(fd, ln.Addr())
		if err != nil || sa == nil {
			return err
		}
		if err := unix.Bind(fd, sa); err != nil && err != unix.EINVAL {
			return os.NewSyscallError("bind", err)
		}
		if reuse, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR); err != nil {
			return os.NewSyscallError("getsockopt SO_REUSEADDR", err)
		}
		return os.NewSyscallError("setsockopt SO_REUSEADDR", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 0))
	})
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", ln.Addr(), err)
	}
	return func() error {
		return control(ln, func(fd int) error {
			return os.NewSyscallError("setsockopt SO_REUSEADDR", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, reuse))
		})
	}, nil
}

// ReleasePort gives back the port of a socket that another process stopped
// and held with HoldPort before handing it over. The hold's release would
// restore the SO_REUSEADDR the socket had; a listening socket Go or package
// listener made had it on, so it is turned on.
func ReleasePort(ln net.Listener) error {
	return control(ln, func(fd int) error {
		return os.NewSyscallError("setsockopt SO_REUSEADDR", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	})
}
