//go:build unix

package upgrade

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The PID file is replaced, never rewritten in place: a reader sees the
// old id or the new one, whole, and nothing is left beside it.
func TestPIDFileIsReplacedAtomically(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "server.pid")
	require.NoError(t, os.WriteFile(path, []byte("1\n"), 0o644))
	mine := strconv.Itoa(os.Getpid()) + "\n"
	var wg sync.WaitGroup
	stop := make(chan struct{})
	seen := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err == nil {
				seen[string(b)]++
			}
		}
	}()
	for range 200 {
		require.NoError(t, writePIDFile(path))
	}
	close(stop)
	wg.Wait()
	for content := range seen {
		assert.Contains(t, []string{"1\n", mine}, content, "a reader saw a part of the file")
	}
	assert.Equal(t, mine, readFile(t, path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no temporary file left beside it")
}

// A PID file that cannot be written fails a first generation's Ready: it
// has not told anyone it serves.
func TestReadyFailsWithoutItsPIDFile(t *testing.T) {
	u, err := New(Options{PIDFile: filepath.Join(shortDir(t), "missing", "server.pid")})
	require.NoError(t, err)
	defer u.Stop()
	g, err := u.Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	assert.ErrorIs(t, u.Ready(), os.ErrNotExist)
}
