package acceptgate

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// platformSuffixes are the file-name suffixes that say a file's build
// constraint, and the constraint each one means. Go's own GOOS suffixes
// (_linux.go, _windows.go...) need no line; these need exactly this one.
// AIX, where systemd does not run, is left out of the systemd files.
var platformSuffixes = map[string][]string{
	"_unix":         {"unix", "unix && !aix"},
	"_notunix":      {"!unix", "!unix || aix"},
	"_notlinux":     {"!linux"},
	"_unixnotlinux": {"unix && !linux"},
	"_linux":        {"", "linux"},
}

// TestFileNamesSayTheirBuildConstraint holds every Go file in the
// repository to one rule: a file with a //go:build line is named for it,
// and a file named for a platform has the line its name says.
func TestFileNamesSayTheirBuildConstraint(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		line, err := buildLine(path)
		if err != nil {
			return err
		}
		if line == "ignore" { // a generator, run by go generate
			return nil
		}
		stem := strings.TrimSuffix(strings.TrimSuffix(path, ".go"), "_test")
		for suffix, allowed := range platformSuffixes {
			if strings.HasSuffix(stem, suffix) {
				for _, a := range allowed {
					if line == a {
						return nil
					}
				}
				t.Errorf("%s: constraint %q; a %s file has %q", path, line, suffix, allowed)
				return nil
			}
		}
		if line != "" {
			t.Errorf("%s: constraint %q, but its name says none: name it for the constraint (CONTRIBUTING.md says how)", path, line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// buildLine returns the expression of path's //go:build line, or "".
func buildLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if expr, ok := strings.CutPrefix(text, "//go:build "); ok {
			return expr, nil
		}
		if text != "" && !strings.HasPrefix(text, "//") {
			break // the package clause: no constraint comes after it
		}
	}
	return "", sc.Err()
}
