package acceptgate_test

import (
	"bufio"
	"os"
	"slices"
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
	for _, path := range repoFiles(t, ".go") {
		line, err := buildLine(path)
		if err != nil {
			t.Fatal(err)
		}
		if line == "ignore" { // a generator, run by go generate
			continue
		}
		if want, ok := constraintOfName(path); !ok {
			if line != "" {
				t.Errorf("%s: constraint %q, but its name says none: name it for the constraint (CONTRIBUTING.md says how)", path, line)
			}
		} else if !slices.Contains(want, line) {
			t.Errorf("%s: constraint %q; its name says %q", path, line, want)
		}
	}
}

// constraintOfName returns the constraints path's suffix allows, and false
// if its name has no platform suffix.
func constraintOfName(path string) ([]string, bool) {
	stem := strings.TrimSuffix(strings.TrimSuffix(path, ".go"), "_test")
	for suffix, allowed := range platformSuffixes {
		if strings.HasSuffix(stem, suffix) {
			return allowed, true
		}
	}
	return nil, false
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
