package control_test

import "golang.org/x/sys/unix"

// setfsuid sets the file system uid of the calling thread alone, which
// gives the sockets it makes their owner.
func setfsuid(uid int) { unix.Setfsuid(uid) }
