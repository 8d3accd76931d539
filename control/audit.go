package control

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// auditPerSecond is how many refused requests are logged in one second;
// the rest are counted, and the count goes with the next line logged.
const auditPerSecond = 10

// auditor logs refused requests with who sent them and why, at most
// auditPerSecond lines a second, so that a flood of them cannot fill a
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
	attrs := []any{"status", status, "reason", reason, "remote", clip(r.RemoteAddr),
		"method", clip(r.Method), "path", clip(r.URL.Path), "host", clip(r.Host)}
	if o := r.Header.Get("Origin"); o != "" {
		attrs = append(attrs, "origin", clip(o))
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		attrs = append(attrs, "sec_fetch_site", clip(s))
	}
	if dropped > 0 {
		attrs = append(attrs, "not_logged_before", dropped)
	}
	a.logger.Warn("control: refused request", attrs...)
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
