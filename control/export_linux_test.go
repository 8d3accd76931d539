package control

import "github.com/acceptgate/acceptgate/internal/sockets"

// SetBeforeBindHook has f called with the admin socket's descriptor after
// its mode is set and before it is bound; restore undoes it.
func SetBeforeBindHook(f func(fd int)) (restore func()) {
	sockets.TestHookBeforeBind = f
	return func() { sockets.TestHookBeforeBind = nil }
}
