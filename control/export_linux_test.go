package control

// SetBeforeBindHook has f called with the admin socket's descriptor after
// its mode is set and before it is bound; restore undoes it.
func SetBeforeBindHook(f func(fd int)) (restore func()) {
	testHookBeforeBind = f
	return func() { testHookBeforeBind = nil }
}
