package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplaceBetween: the table goes between the markers and nothing else
// of the file changes; a file without them is left alone, and the error
// names the file, the marker missing, and -out "".
func TestReplaceBetween(t *testing.T) {
	path := filepath.Join(t.TempDir(), "measurements.md")
	doc := "# M\n\nbefore\n" + perfBegin + "\nold table\n" + perfEnd + "\nafter\n"
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	require.NoError(t, replaceBetween(path, perfBegin, perfEnd, "new table\n"))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "# M\n\nbefore\n"+perfBegin+"\nnew table\n"+perfEnd+"\nafter\n", string(b))

	for _, tc := range []struct {
		name, doc, missing string
	}{
		{"no markers", "# M\n\na table\n", "neither " + perfBegin + " nor " + perfEnd},
		{"no begin", "# M\n\na table\n" + perfEnd + "\n", "no " + perfBegin},
		{"no end", "# M\n" + perfBegin + "\na table\n", "no " + perfEnd},
		{"end first", "# M\n" + perfEnd + "\na table\n" + perfBegin + "\n", perfEnd + " before " + perfBegin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(tc.doc), 0o644))
			err := replaceBetween(path, perfBegin, perfEnd, "new table\n")
			require.ErrorIs(t, err, errNoMarkers)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tc.missing)
			assert.Contains(t, err.Error(), `-out ""`)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.doc, string(b), "the file is left as it was")
		})
	}
}

// TestBenchChecksTheOutFirst: an -out without markers fails before
// the minutes of the suite, not after.
func TestBenchChecksTheOutFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(path, []byte("# no table here\n"), 0o644))
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"-out", path}, &stdout, &stderr)
	require.ErrorIs(t, err, errNoMarkers)
	assert.NotContains(t, stderr.String(), "round", "no benchmark ran")
}

// TestBenchSaysWhyGoTestFailed: run away from the repository's root, bench
// says so and shows what go test said, not only "exit status 1".
func TestBenchSaysWhyGoTestFailed(t *testing.T) {
	t.Chdir(t.TempDir()) // no go.mod, no ./internal/bench
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"-out", "", "-count", "1"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go test -run ^$ -bench")
	assert.Contains(t, err.Error(), "go.mod file not found", "go test's own words")
	assert.Contains(t, err.Error(), "run bench from the repository's root")
}
