// Package sockets holds the socket machinery only the gate uses: taking a
// listener's queue out, stopping and restarting it on the same descriptor,
// holding its port, and fencing it off an interface. Package listener keeps
// what users call.
package sockets

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

var errUnsupported = fmt.Errorf("not on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// rawConn returns the raw connection of a listener that has one.
func rawConn(ln any) (syscall.RawConn, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T exposes no socket: %w", ln, errors.ErrUnsupported)
	}
	return sc.SyscallConn()
}

// control runs f on the socket's descriptor and returns f's error or
// Control's.
func control(ln any, f func(fd int) error) error {
	rc, err := rawConn(ln)
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// refuseAbstract returns an error wrapping os.ErrInvalid if path is not one
// a private socket can have: an abstract name, which Go's net package reads
// a leading '@' or NUL as on Linux and Windows, has no file, so no mode or
// owner keeps other users out; and no file's path holds a NUL byte. It is
// refused on every platform, so that a name means the same everywhere
// ("./@name" is a file).
func refuseAbstract(path string) error {
	switch {
	case strings.HasPrefix(path, "@"):
		return fmt.Errorf("%q is an abstract socket name: it has no file, so any local user could connect; give a file path (./%s for a file of that name): %w", path, path, os.ErrInvalid)
	case strings.IndexByte(path, 0) >= 0:
		return fmt.Errorf("%q holds a NUL byte: an abstract name or no file path at all: %w", path, os.ErrInvalid)
	}
	return nil
}

func addrString(ip net.IP, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
