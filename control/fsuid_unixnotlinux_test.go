//go:build unix && !linux

package control_test

// setfsuid does nothing: elsewhere than Linux a reservation shares its
// port with no socket, whoever owns it.
func setfsuid(int) {}
