package backlog

import "fmt"

// unixQueueOf would read a unix listener's queue through sock_diag netlink
// (UNIX_DIAG_RQLEN); not done yet, see the README.
func unixQueueOf(fd uintptr) (Queue, error) {
	return Queue{}, fmt.Errorf("unix socket queue: %w", errUnsupported)
}
