package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsesOnlyThePublicAPI: the command is built by users against a
// published version of the library, so none of its files may import the
// library's internal packages, whose API binds it to one exact version.
// The lab (./lab) is where what needs them lives.
func TestUsesOnlyThePublicAPI(t *testing.T) {
	const internal = "github.com/acceptgate/acceptgate/internal/"
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			assert.False(t, strings.HasPrefix(path, internal), "%s imports %s", fset.Position(imp.Pos()), path)
		}
		checked++
	}
	require.NotZero(t, checked, "no .go files found: the test must run in the command's directory")
}
