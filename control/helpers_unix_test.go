//go:build unix

package control_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, fi.Mode().Perm())
}

func runningAsRoot() bool { return os.Geteuid() == 0 }

func chownOther(path string) error { return os.Lchown(path, 65534, 65534) }
