package backlog

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// queueOf reads a listening socket's queue. For TCP it is TCP_INFO: on a
// listener the kernel reports the queue's length in tcpi_unacked and its
// limit in tcpi_sacked (the figures ss -lnt shows as Recv-Q and Send-Q).
// Unix sockets are asked through sock_diag.
func queueOf(fd uintptr) (Queue, error) {
	domain, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return Queue{}, os.NewSyscallError("getsockopt SO_DOMAIN", err)
	}
	if domain == unix.AF_UNIX {
		return unixQueueOf(fd)
	}
	if on, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
		return Queue{}, fmt.Errorf("socket is not listening: %w", unix.EINVAL)
	}
	info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return Queue{}, os.NewSyscallError("getsockopt TCP_INFO", err)
	}
	return Queue{Len: int(info.Unacked), Limit: int(info.Sacked)}, nil
}

func setBacklog(fd uintptr, size int) error {
	on, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
	}
	if on == 0 {
		return fmt.Errorf("socket is not listening: %w", unix.EINVAL)
	}
	return os.NewSyscallError("listen", unix.Listen(int(fd), size))
}

// SystemMax returns the largest backlog the kernel grants
// (net.core.somaxconn).
func SystemMax() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("backlog: somaxconn: %w", err)
	}
	return n, nil
}
