//go:build !unix

package control_test

import "errors"

func runningAsRoot() bool { return false }

func chownOther(string) error { return errors.ErrUnsupported }
