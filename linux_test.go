//go:build linux

package acceptgate_test

const onLinux = true
