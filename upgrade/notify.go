package upgrade

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// notify sends state to the service manager, as sd_notify does: one
// datagram to the unix socket named by $NOTIFY_SOCKET, a path or, starting
// with '@', an abstract name (Go's net package maps the '@' to the
// leading NUL byte itself). Without NOTIFY_SOCKET it does nothing.
//
// The protocol is this one datagram, so it is written here rather than
// adding a dependency (go-systemd) to every user's go.mod.
func notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("upgrade: notify: NOTIFY_SOCKET=%q: only unix sockets are spoken here: %w", addr, errors.ErrUnsupported)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("upgrade: notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("upgrade: notify: %w", err)
	}
	return nil
}

// The states sent, as systemd's Type=notify and Type=notify-reload read
// them.
const (
	stateReady    = "READY=1"
	stateStopping = "STOPPING=1"
)

// stateReloading says an upgrade began; Type=notify-reload wants the
// CLOCK_MONOTONIC time with it, to tell this reload from an earlier one.
func stateReloading() string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10)
}

// stateTakenOver says the process pid serves now, and is ready: the old
// generation sends it for its successor, since the manager hears only
// from the main process under NotifyAccess=main.
func stateTakenOver(pid int) string {
	return "MAINPID=" + strconv.Itoa(pid) + "\n" + stateReady
}
