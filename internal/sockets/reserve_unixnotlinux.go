//go:build unix && !linux

package sockets

// shareWithSameUser does nothing: SO_REUSEPORT on the BSDs and macOS lets
// any user's socket share the address, so a reservation shares it with
// nobody.
func shareWithSameUser(fd int) error { return nil }
