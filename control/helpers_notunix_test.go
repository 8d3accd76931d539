//go:build !unix

package control_test

import (
	"errors"
	"os"
	"testing"
)

// No Unix file modes, owners or root here.

func assertMode(*testing.T, string, os.FileMode) {}

func runningAsRoot() bool { return false }

func chownOther(string) error { return errors.ErrUnsupported }
