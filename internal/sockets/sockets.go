// Package sockets holds the socket machinery only the gate uses: taking a
// listener's queue out, stopping and restarting it on the same descriptor,
// holding its port, and fencing it off an interface. Package listener keeps
// what users call.
package sockets

import (
	"errors"
	"fmt"
	"runtime"
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
