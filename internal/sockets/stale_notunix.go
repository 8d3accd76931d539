//go:build !unix

package sockets

// RemoveStale removes a stale unix socket file; there are none here.
func RemoveStale(path string) error { return nil }
