package main

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var (
	statusLine = regexp.MustCompile(`^\s*\[(\d+)\]\s+(\d+) responses`)
	errorLine  = regexp.MustCompile(`^\s*\[(\d+)\]\s+(.*)$`)
)

// parseHey reads hey's summary into r: its status code distribution and
// its error distribution.
func parseHey(out string, r *result) error {
	section := ""
	seen := false
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		line := s.Text()
		switch strings.TrimSpace(line) {
		case "Status code distribution:", "Error distribution:":
			section = strings.TrimSpace(line)
			continue
		}
		if section == "Status code distribution:" {
			if m := statusLine.FindStringSubmatch(line); m != nil {
				code, _ := strconv.Atoi(m[1])
				n, _ := strconv.Atoi(m[2])
				r.requests += n
				if code != 200 {
					r.non200 += n
				}
				seen = true
				continue
			}
		}
		if section == "Error distribution:" {
			if m := errorLine.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				r.requests += n
				r.errors += n
				if len(r.firstErr) < 3 {
					r.firstErr = append(r.firstErr, fmt.Sprintf("%d× %s", n, m[2]))
				}
				seen = true
				continue
			}
		}
		if strings.TrimSpace(line) == "" || !strings.HasPrefix(line, " ") {
			section = ""
		}
	}
	if !seen {
		return fmt.Errorf("hey said no status code and no error:\n%s", out)
	}
	return nil
}
