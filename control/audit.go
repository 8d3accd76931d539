package control

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// auditPerSecond is how many refused requests and server errors are logged
// in one second; the rest are counted, and the count goes with the next
// line logged.
const auditPerSecond = 10

// auditor logs refused requests with who sent them and why, and the admin
// server's own errors (see NewServer), at most auditPerSecond lines a
// second, each under 1 KB (see fit), so that a flood of them cannot fill a
// disk. It keeps no goroutine: a second starts when a refusal comes after
// the last one has ended.
type auditor struct {
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	start   time.Time // of the current second; guarded by mu
	logged  int       // lines logged since start; guarded by mu
	dropped int       // refusals not logged since the last line; guarded by mu
}

func newAuditor(logger *slog.Logger) *auditor {
	return &auditor{logger: logger, now: time.Now}
}

// refused logs r, refused with status for reason, unless this second's lines
// are used up.
func (a *auditor) refused(r *http.Request, status int, reason string) {
	dropped, ok := a.take()
	if !ok {
		return
	}
	origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	v := fit([]string{reason, r.RemoteAddr, r.Method, r.URL.Path, r.Host, origin, site})
	attrs := []any{"status", status, "reason", v[0], "remote", v[1], "method", v[2], "path", v[3], "host", v[4]}
	if origin != "" {
		attrs = append(attrs, "origin", v[5])
	}
	if site != "" {
		attrs = append(attrs, "sec_fetch_site", v[6])
	}
	if dropped > 0 {
		attrs = append(attrs, "not_logged_before", dropped)
	}
	a.logger.Warn("control: refused request", attrs...)
}

// serverError logs msg, a line of an http.Server's own error log (a failed
// TLS handshake, an accept error), under the same limit as refusals: a
// client can make net/http write one for every connection it opens.
func (a *auditor) serverError(msg string) {
	dropped, ok := a.take()
	if !ok {
		return
	}
	attrs := []any{"err", fit([]string{strings.TrimSpace(msg)})[0]}
	if dropped > 0 {
		attrs = append(attrs, "not_logged_before", dropped)
	}
	a.logger.Warn("control: admin server error", attrs...)
}

// shed logs that the connection from remote, silent for silent, was
// closed to make room for a newcomer, under the same limit as refusals: a
// client can have one closed for every connection it opens.
func (a *auditor) shed(remote string, silent time.Duration) {
	dropped, ok := a.take()
	if !ok {
		return
	}
	attrs := []any{"remote", fit([]string{remote})[0], "silent_for", silent.Round(time.Millisecond).String()}
	if dropped > 0 {
		attrs = append(attrs, "not_logged_before", dropped)
	}
	a.logger.Warn("control: closed a silent connection to make room on a full admin listener", attrs...)
}

// take reports whether a line may be logged now and, if so, how many
// refusals went unlogged before it.
func (a *auditor) take() (dropped int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := a.now(); now.Sub(a.start) >= time.Second {
		a.start, a.logged = now, 0
	}
	if a.logged >= auditPerSecond {
		a.dropped++
		return 0, false
	}
	a.logged++
	dropped, a.dropped = a.dropped, 0
	return dropped, true
}

// flush logs how many refusals went unlogged, once their second is over,
// even if no refusal comes after them: called for every request, so that
// the end of a flood is told as soon as anyone calls again.
func (a *auditor) flush() {
	a.mu.Lock()
	dropped := 0
	if a.dropped > 0 && a.now().Sub(a.start) >= time.Second {
		dropped, a.dropped = a.dropped, 0
	}
	a.mu.Unlock()
	if dropped > 0 {
		a.logger.Warn("control: refused requests not logged", "count", dropped)
	}
}

// An audit line must stay under 1 KB as slog's text and JSON handlers write
// it, whatever the client sent. Each field a client chooses is cut to
// auditFieldMax bytes (the reason, which adds our words to a clipped
// string of the client's, to twice that), and all of them together to
// auditFieldsMax; the time, level, message, keys and numbers take less
// than the rest. Cutting each field alone is not enough: seven fields of
// 128 bytes and a reason that repeats one of them are over 1 KB already.
const (
	auditFieldMax  = 128
	auditFieldsMax = 640
)

// fit makes vals, an audit line's fields, printable ASCII and cuts them so
// that, escaped as a logger escapes them, each stays within its bound and
// all together within auditFieldsMax. The room is shared out evenly: short
// fields are kept whole and what they leave goes to the long ones, so that
// no one long field crowds the others out. vals[0] is the reason.
func fit(vals []string) []string {
	out := make([]string, len(vals))
	order := make([]int, len(vals))
	for i, v := range vals {
		out[i] = printable(v)
		order[i] = i
	}
	limit := func(i int) int {
		if i == 0 {
			return 2 * auditFieldMax
		}
		return auditFieldMax
	}
	cost := func(i int) int { return min(escapedLen(out[i]), limit(i)) }
	slices.SortStableFunc(order, func(i, j int) int { return cost(i) - cost(j) })
	room := auditFieldsMax
	for k, i := range order {
		out[i] = cut(out[i], min(limit(i), room/(len(order)-k)))
		room -= escapedLen(out[i])
	}
	return out
}

// printable replaces every byte of s that is not printable ASCII with '?',
// so that a logger has nothing to escape but quotes and backslashes.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= ' ' && r <= '~' {
			return r
		}
		return '?'
	}, s)
}

// escapedLen is how many bytes s, printable ASCII, takes in a quoted
// string of slog's text or JSON handler: quotes and backslashes take two.
func escapedLen(s string) int {
	return len(s) + strings.Count(s, `"`) + strings.Count(s, `\`)
}

// cut shortens s, printable ASCII, to at most max escaped bytes, marking a
// cut with "...".
func cut(s string, max int) string {
	if escapedLen(s) <= max {
		return s
	}
	const mark = "..."
	n := 0
	for i := 0; i < len(s); i++ {
		c := 1
		if s[i] == '"' || s[i] == '\\' {
			c = 2
		}
		if n+c > max-len(mark) {
			return s[:i] + mark
		}
		n += c
	}
	return s
}
