package control

import "github.com/acceptgate/acceptgate/internal/sockets"

// CheckInheritedSocket decides whether the admin API may be served without
// a token on the unix socket at path when this process did not make it:
// one systemd passed (whose SocketMode is 0666 unless the unit says
// otherwise), or one taken over from the previous instance. The Handler
// lets every client of a unix socket in when it has no token, so such a
// socket is safe only if no other user can connect to it.
//
// It returns nil, and the API may go without a token there, if path names,
// without following a symbolic link, a socket file owned by this user or
// by root with no group or other permission bit (SocketMode=0600). It
// returns an error for anything else:
// a missing file (wrapping fs.ErrNotExist), another kind of file, a socket
// of another user, one with group or other bits, and an abstract name (a
// leading '@' or a NUL byte, wrapping os.ErrInvalid), which has no file and
// so nothing keeping other users out. It never changes the file: unlike
// the socket ListenAdmin makes, an inherited one is not this process's to
// chmod. The check is of the file at path when it is called, the one
// clients reach by that name.
//
// On Windows, where who may connect lives in ACLs it does not read, it
// checks only the name; serve an inherited socket there with a token.
func CheckInheritedSocket(path string) error { return sockets.CheckOwnerOnly(path) }
