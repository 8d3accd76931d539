//go:build !unix

package control_test

import (
	"os"
	"testing"
)

func assertMode(*testing.T, string, os.FileMode) {} // no Unix modes here
