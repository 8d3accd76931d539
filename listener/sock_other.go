//go:build !unix

package listener

func removeStaleSocket(path string) error { return nil }
