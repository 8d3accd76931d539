package sockets

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Fence makes a listening TCP socket refuse new clients at once while it
// keeps listening: the connections in its accept queue, and the handshakes
// about to join it, can still be accepted, and no new client slips in. Do
// not fence a member of an SO_REUSEPORT group: the group's hash still hands
// it a share of new clients, whose SYN-ACK it sends through the fence's
// interface, so they wait for their SYN to be sent again.
//
// It binds the socket (SO_BINDTODEVICE) to a network interface that none of
// its clients can arrive on: one that is down, or, for a socket bound to a
// loopback address, any other. Binding a socket not yet bound to an
// interface needs no privilege (Linux 5.7+), but unfence, which restores the
// socket's own binding, needs CAP_NET_RAW and fails with EPERM without it.
// Where no interface fits, Fence returns an error and changes nothing; a
// network namespace with only lo has none.
func Fence(ln net.Listener) (unfence func() error, err error) {
	ta, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("fence %s: not TCP: %w", ln.Addr(), errUnsupported)
	}
	var own, dev string
	for fresh := false; ; fresh = true {
		if dev, err = fenceDevice(ta.IP, fresh); err != nil {
			return nil, fmt.Errorf("fence %s: %w", ta, err)
		}
		err = control(ln, func(fd int) error {
			if own, err = unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil {
				return os.NewSyscallError("getsockopt SO_BINDTODEVICE", err)
			}
			if own != "" {
				return fmt.Errorf("already bound to %s: %w", own, errUnsupported)
			}
			return os.NewSyscallError("setsockopt SO_BINDTODEVICE", unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev))
		})
		if !errors.Is(err, unix.ENODEV) || fresh {
			break // the interface list may be stale only if the device is gone
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fence %s with %s: %w", ta, dev, err)
	}
	return func() error {
		return control(ln, func(fd int) error {
			return os.NewSyscallError("setsockopt SO_BINDTODEVICE", unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, own))
		})
	}, nil
}

// FenceDevice returns the interface Fence would bind a socket bound to ip
// to, or an error if there is none (in a network namespace with only lo, for
// one). An interface that stays down, such as a dummy one made for this,
// serves any socket.
func FenceDevice(ip net.IP) (string, error) { return fenceDevice(ip, false) }

// CanLiftFence reports whether this process may lift a fence, which needs
// CAP_NET_RAW. It asks the kernel on a scratch socket each time, since a
// server may drop its privileges after it starts.
func CanLiftFence() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return false
		}
	}
	defer unix.Close(fd)
	if unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo") != nil {
		return false
	}
	return unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "") == nil
}

// interfaces caches the host's interfaces for a few seconds: listing them is
// a netlink dump that would double the cost of a Reject, and they seldom
// change. A fence on a device that went away refreshes it at once.
var interfaces struct {
	sync.Mutex
	list []net.Interface
	read time.Time
}

const interfacesFresh = 5 * time.Second

// fenceDevice picks an interface no client of a socket bound to ip arrives
// on, from the cached list unless fresh.
func fenceDevice(ip net.IP, fresh bool) (string, error) {
	interfaces.Lock()
	if fresh || interfaces.list == nil || time.Since(interfaces.read) > interfacesFresh {
		list, err := net.Interfaces()
		if err != nil {
			interfaces.Unlock()
			return "", err
		}
		interfaces.list, interfaces.read = list, time.Now()
	}
	ifs := interfaces.list
	interfaces.Unlock()
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			return ifi.Name, nil
		}
	}
	if ip.IsLoopback() {
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback == 0 {
				return ifi.Name, nil
			}
		}
	}
	return "", errors.New("no interface that clients cannot arrive on")
}

// Unfence lifts a fence that another process put up on a socket it handed
// over: the socket was not bound to an interface before (Fence refuses one
// that was), so it is bound to none again. It needs CAP_NET_RAW.
func Unfence(ln net.Listener) error {
	return control(ln, func(fd int) error {
		return os.NewSyscallError("setsockopt SO_BINDTODEVICE", unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ""))
	})
}

// ForgetInterfaces empties the cached interface list, so that the next
// Fence lists the interfaces of the network namespace it runs in. Tests that
// drive a gate in a namespace of their own call it: the cache would
// otherwise still list the interfaces of the namespace it was read in.
func ForgetInterfaces() {
	interfaces.Lock()
	interfaces.list = nil
	interfaces.Unlock()
}
