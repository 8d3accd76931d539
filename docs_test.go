package acceptgate_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// readmeMaxLines keeps the README readable in one sitting; the depth goes to
// docs/.
const readmeMaxLines = 250

func TestREADMEStaysShort(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the depth to a page of docs/", n, readmeMaxLines)
	}
}

// TestREADMEHasCIsTestCommand: the test command a newcomer copies from the
// README is the one CI runs.
func TestREADMEHasCIsTestCommand(t *testing.T) {
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ci), "\n")
	var cmd string
	for i, l := range lines {
		if strings.HasPrefix(l, "step ") && strings.Contains(l, "README's command") && i+1 < len(lines) {
			cmd = strings.TrimSpace(lines[i+1])
		}
	}
	if !strings.HasPrefix(cmd, "go test") {
		t.Fatalf(".ci/run has no go test line after its step for the README's command (found %q)", cmd)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(readme), "\n") {
		if l == cmd || strings.HasPrefix(l, cmd+" ") {
			return
		}
	}
	t.Errorf("README.md has no line starting with .ci/run's test command %q", cmd)
}

// TestMarkdownLinksResolve: every relative link in every Markdown file of
// the repository leads to a file that exists and, where it names one, to a
// heading of that file.
func TestMarkdownLinksResolve(t *testing.T) {
	files := repoFiles(t, ".md")
	if len(files) < 2 {
		t.Fatalf("found only %v: the walk is broken", files)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a, err := headingAnchors(path)
		if err != nil {
			t.Fatal(err)
		}
		anchors[path] = a
		return a
	}
	checked := 0
	for _, file := range files {
		links, err := relativeLinks(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			checked++
			target, anchor, _ := strings.Cut(l.target, "#")
			path := file
			if target != "" {
				path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %q: %v", file, l.line, l.target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(path, ".md") {
				t.Errorf("%s:%d: link %q: an anchor in a file that is not Markdown", file, l.line, l.target)
				continue
			}
			if !anchorsOf(path)[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", file, l.line, l.target, path, anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the parser is broken")
	}
}

// repoFiles lists the repository's files whose names end in ext, outside
// hidden directories, testdata and vendored trees.
func repoFiles(t *testing.T, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ext) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type mdLink struct {
	line   int
	target string
}

var (
	// [text](target) and ![alt](target), with an optional "title".
	linkRE = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	codeRE = regexp.MustCompile("`[^`]*`")
	// A URL with a scheme (https:, mailto:) is not a file of the repository.
	schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// relativeLinks returns the links of a Markdown file that point into the
// repository, outside code blocks and code spans.
func relativeLinks(path string) ([]mdLink, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var links []mdLink
	fence := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		line = codeRE.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			if !schemeRE.MatchString(m[1]) {
				links = append(links, mdLink{n, m[1]})
			}
		}
	}
	return links, sc.Err()
}

// headingAnchors returns the anchors GitHub gives the headings of a
// Markdown file: the heading's text in lower case, without punctuation but
// '-' and '_', spaces made '-', and "-1", "-2" added to repeats.
func headingAnchors(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if len(line)-len(text) > 6 || !strings.HasPrefix(text, " ") {
			continue
		}
		slug := githubSlug(text)
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors, nil
}

func githubSlug(heading string) string {
	var s strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			s.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			s.WriteRune(r)
		}
	}
	return s.String()
}

func TestLinkAnchorsFollowGitHubsSlugRule(t *testing.T) {
	for heading, want := range map[string]string{
		"Handoff between SO_REUSEPORT sockets":                        "handoff-between-so_reuseport-sockets",
		"Upgrades in place: handing the sockets to a new process":     "upgrades-in-place-handing-the-sockets-to-a-new-process",
		"Draining out of a fleet (Kubernetes)":                        "draining-out-of-a-fleet-kubernetes",
		"Sockets: `listener/` and `backlog/`":                         "sockets-listener-and-backlog",
		"`SO_BINDTODEVICE` on a listener refuses new clients":         "so_bindtodevice-on-a-listener-refuses-new-clients",
		"Unix sockets: a path that does not listen refuses; `RENAME`": "unix-sockets-a-path-that-does-not-listen-refuses-rename",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
}
