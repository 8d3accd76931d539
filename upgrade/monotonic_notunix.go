//go:build !unix

package upgrade

// monotonicUsec returns 0: no service manager here reads it.
func monotonicUsec() int64 { return 0 }
