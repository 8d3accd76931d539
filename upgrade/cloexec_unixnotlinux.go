//go:build unix && !linux

package upgrade

// closeOnExecAll marks every descriptor from 3 on close-on-exec.
func closeOnExecAll() error { return closeOnExecListed("/dev/fd") }
