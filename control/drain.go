package control

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/acceptgate/acceptgate"
)

// maxGrace bounds a drain's grace: a typo such as 30h should be refused,
// not leave an instance half out of service for a day.
const maxGrace = time.Hour

// DrainStatus is what the API tells of a drain: POST /v1/drain answers
// with it, GET /v1/drain reads it.
type DrainStatus struct {
	Draining bool      `json:"draining"`          // a drain was asked for; /readyz answers 503
	Started  time.Time `json:"started,omitzero"`  // when the first drain was asked for
	Deadline time.Time `json:"deadline,omitzero"` // when the grace ends and the gates reject
	Rejected bool      `json:"rejected"`          // the grace is over and the gates were told to reject
	Active   int64     `json:"active"`            // tracked connections still open, over every gate
	Pending  int       `json:"pending"`           // connections taken out by Reject, not yet served
	Queued   int       `json:"queued"`            // clients still in the kernel's accept queues, where known
	Done     bool      `json:"done"`              // rejected, and none of the three counts left
}

// drain is a Handler's drain: once asked for it is never undone, as the
// instance is on its way out.
type drain struct {
	hook func() // WithDrainHook; runs once, after the gates were told to reject

	mu       sync.Mutex // guards the fields below
	started  time.Time  // zero until a drain is asked for
	deadline time.Time
	timer    *time.Timer
	ending   bool // endGrace has begun: the deadline can no longer move
	rejected bool // endGrace is done
}

// Drain takes the Handler's gates out of service without refusing anyone:
// /readyz answers 503 at once, so that load balancers stop sending new
// clients, while the gates go on accepting for grace; then every gate
// rejects, and the server serves what it had taken until its connections
// are done (see DrainStatus). It is what POST /v1/drain does.
//
// A drain is never undone. A second Drain may bring the deadline forward,
// never push it back, so a retried drain does nothing new and Drain(0)
// hurries one under way. grace must be from 0 to an hour; otherwise Drain
// fails and nothing changes.
func (h *Handler) Drain(grace time.Duration) (DrainStatus, error) {
	if grace < 0 || grace > maxGrace {
		return h.DrainStatus(), fmt.Errorf("control: drain grace %s: want 0s to %s", grace, maxGrace)
	}
	d := &h.drain
	d.mu.Lock()
	now := time.Now()
	deadline := now.Add(grace)
	switch {
	case d.started.IsZero():
		d.started, d.deadline = now, deadline
		d.timer = time.AfterFunc(grace, h.endGrace)
		h.logger.Info("control: draining", "grace", grace.String(), "deadline", deadline.Format(time.RFC3339))
	case !d.ending && deadline.Before(d.deadline):
		// Stop may be too late, with endGrace already on its way; it does
		// nothing the second time.
		d.timer.Stop()
		d.deadline = deadline
		d.timer = time.AfterFunc(grace, h.endGrace)
		h.logger.Info("control: drain hurried", "grace", grace.String(), "deadline", deadline.Format(time.RFC3339))
	}
	d.mu.Unlock()
	return h.DrainStatus(), nil
}

// endGrace makes every gate reject, once. It does so outside d.mu: a
// Reject may wait for handshakes under way, and /readyz must not.
func (h *Handler) endGrace() {
	d := &h.drain
	d.mu.Lock()
	if d.ending {
		d.mu.Unlock()
		return
	}
	d.ending = true
	d.mu.Unlock()
	for _, n := range h.sortedNames() {
		g := h.lookup(n)
		from := g.State()
		if err := g.Reject(); err != nil {
			h.logger.Warn("control: drain: reject", "listener", n, "from", from.String(), "err", err)
			continue
		}
		h.logger.Info("control: drain: reject", "listener", n, "from", from.String(), "to", g.State().String())
	}
	if d.hook != nil {
		d.hook()
	}
	d.mu.Lock()
	d.rejected = true
	d.mu.Unlock()
}

// DrainStatus tells whether the Handler drains and how far it got.
func (h *Handler) DrainStatus() DrainStatus {
	d := &h.drain
	d.mu.Lock()
	st := DrainStatus{Draining: !d.started.IsZero(), Started: d.started, Deadline: d.deadline, Rejected: d.rejected}
	d.mu.Unlock()
	for _, n := range h.sortedNames() {
		s := h.lookup(n).Stats()
		st.Active += s.Active
		st.Pending += s.Pending
		if s.Queued > 0 {
			st.Queued += s.Queued
		}
	}
	st.Done = st.Rejected && st.Active == 0 && st.Pending == 0 && st.Queued == 0
	return st
}

func (h *Handler) draining() bool {
	h.drain.mu.Lock()
	defer h.drain.mu.Unlock()
	return !h.drain.started.IsZero()
}

func (h *Handler) lookup(name string) *acceptgate.Listener {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.gates[name]
}

// serveDrain is /v1/drain: GET reads the drain, POST ?grace=D starts or
// hurries it. The body, if any, is a Request, read before anything changes.
func (h *Handler) serveDrain(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		writeJSON(w, http.StatusOK, h.DrainStatus())
		return
	}
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	req, ok := readRequest(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if len(q["grace"]) != 1 {
		writeError(w, http.StatusBadRequest, "want one ?grace=DURATION, such as 30s")
		return
	}
	grace, err := time.ParseDuration(q.Get("grace"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "grace: "+clip(q.Get("grace"))+" is not a duration such as 30s")
		return
	}
	if h.refuseOwnGate(w, r, "drain", h.sortedNames(), req.Reason) {
		return
	}
	st, err := h.Drain(grace)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	h.logger.Info("control: drain", "grace", grace.String(), "remote", r.RemoteAddr, "reason", req.Reason)
	writeJSON(w, http.StatusOK, st)
}

// WithDrainHook sets a function the Handler calls once, when a drain's
// grace is over and the gates were told to reject: the place to close idle
// keep-alive connections (http.Server.SetKeepAlivesEnabled(false)), which
// would otherwise keep the drain from being done. It must not call Drain.
// HandleSignals ignores it.
func WithDrainHook(f func()) Option {
	return func(s *settings) { s.drainHook = f }
}
