package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResultsTakesMedians(t *testing.T) {
	out := `goos: linux
BenchmarkAccept/raw-2   	400000000	         2.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkAccept/raw-2   	400000000	         3.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkAccept/raw-2   	400000000	         2.7 ns/op	       0 B/op	       0 allocs/op
BenchmarkTransition/reject-to-refused-2 	2000	 32250 ns/op	 24.55 p50-µs	 71.30 p99-µs
PASS`
	r, err := parseResults(strings.NewReader(out))
	require.NoError(t, err)
	v, ok := r.median("BenchmarkAccept/raw", "ns/op")
	require.True(t, ok)
	assert.Equal(t, 2.7, v)
	v, ok = r.median("BenchmarkTransition/reject-to-refused", "p99-µs")
	require.True(t, ok)
	assert.Equal(t, 71.30, v)
	_, ok = r.median("BenchmarkNope", "ns/op")
	assert.False(t, ok)
	var md strings.Builder
	r.markdown(&md)
	assert.Contains(t, md.String(), "| raw | 2.7 |")
}
