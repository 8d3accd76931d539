package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/process"
)

// maxBody bounds a request body; the API's bodies are a few fields.
const maxBody = 4 << 10

// View is what the API tells of one gate.
type View struct {
	Name     string    `json:"name"`
	Addr     string    `json:"addr"`
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Accepted uint64    `json:"accepted"`
	Active   int64     `json:"active"`
	Pending  int       `json:"pending"`
	Aborted  uint64    `json:"aborted"` // skipped because the client gave up (WithSkipAborted)
	Queued   int       `json:"queued"`  // -1 where the kernel cannot tell
	Backlog  int       `json:"backlog"` // -1 where the kernel cannot tell

	// The process serving the gate, so that an operator sees which
	// generation answers after an upgrade.
	PID            int       `json:"pid"`
	ProcessStarted time.Time `json:"process_started"`
}

// Request is the optional JSON body of a state change.
type Request struct {
	Reason string `json:"reason,omitempty"` // logged with the change
}

// Handler is the admin API over a set of named gates, an http.Handler to
// mount in any mux. Its routes, all answering JSON:
//
//	GET  /v1/listeners                       every gate
//	GET  /v1/listeners/{name}                one gate
//	POST /v1/listeners/{name}/pause|reject|resume
//	POST /v1/pause|reject|resume             every gate
//	POST /v1/drain?grace=30s                 fail /readyz now, reject after grace (see Drain)
//	GET  /v1/drain                           how the drain goes (DrainStatus)
//	GET  /readyz                             200 when every gate accepts and no drain was asked for, else 503
//	GET  /                                   the admin page (HTML; see below)
//
// and the routes added by WithHandler.
//
// Before any route runs, the Handler decides who may call it (see admit.go):
// without a token, only clients on loopback or a unix socket, naming the
// server by a loopback address, "localhost" or a name given to
// WithAllowedHosts (421 otherwise: DNS rebinding; /readyz answers any Host,
// as balancers send none or their own); no state change from a
// cross-origin browser request (403, by net/http's CrossOriginProtection);
// with a token, "Authorization: Bearer token" on every route but /readyz
// (401). These checks are in ServeHTTP itself, so they hold wherever the
// Handler is mounted. Every refusal is logged, at most a few lines a second.
//
// Errors are {"error": "..."}: 404 for an unknown gate or route, 405 for a
// wrong method (a GET never changes anything), 400 for a malformed body or
// a drain's bad grace, 413 for an oversized body, 409 for a transition a
// gate refuses, and the refusals above.
//
// Serve the Handler on a listener of its own (ListenAdmin), not through a
// gate it controls: a pause, reject or drain that would stop the gate the
// request came through (the one whose address is the connection's local
// address, http.LocalAddrContextKey) is refused with 409, naming the gate,
// and changes nothing, since the API's next call, its resume, could never
// reach it; a resume is served. The first request through such a gate logs
// a warning. Behind anything that hides the address the client connected
// to, such as a PROXY protocol listener, or a proxy in the process that
// forwards from a gate to the Handler's own listener, the check cannot
// tell.
//
// /readyz tells only whether every gate accepts, which
// states the gates are in and whether a drain was asked for, never names,
// addresses or counters, so that load balancers and probes can follow it
// without the token. Every view carries the pid and start time of the
// process serving it, so that after an upgrade an operator sees which
// generation answers.
//
// A Handler is safe for concurrent use.
type Handler struct {
	settings
	cop   *http.CrossOriginProtection
	audit *auditor

	mux   *http.ServeMux // the routes, behind the admission rules
	drain drain
	shed  *shedder // of NewServer's servers' connections

	mu    sync.RWMutex
	gates map[string]*acceptgate.Listener
	names []string // sorted

	ownGateNoticed atomic.Bool // noticeOwnGate has logged its warning
}

// NewHandler returns a Handler with no gates.
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		settings: newSettings(opts),
		gates:    make(map[string]*acceptgate.Listener),
		cop:      http.NewCrossOriginProtection(),
	}
	h.audit = newAuditor(h.logger)
	h.shed = newShedder(h.maxConns, h.audit)
	if h.tokenErr != nil {
		h.logger.Error("control: the token is refused; every call that needs it is refused too", "err", h.tokenErr)
	}
	for _, p := range h.badPaths {
		h.logger.Error("control: WithHandler path left out: it must be absolute, clean, and not the API's own", "path", clip(p))
	}
	h.drain.hook = h.drainHook
	h.mux = h.routes()
	return h
}

// Register adds a gate under name, which must be non-empty, unique, made of
// letters, digits, '-', '_' and '.', and neither "." nor "..".
func (h *Handler) Register(name string, g *acceptgate.Listener) error {
	if !validName(name) {
		return fmt.Errorf(`control: register %q: name must be letters, digits, '-', '_' or '.', and not "." or ".."`, name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.gates[name]; ok {
		return fmt.Errorf("control: register %q: name already taken", name)
	}
	h.gates[name] = g
	i, _ := slices.BinarySearch(h.names, name)
	h.names = slices.Insert(h.names, i, name)
	return nil
}

// HasToken reports whether the Handler requires a token.
func (h *Handler) HasToken() bool { return h.hasToken }

func validName(name string) bool {
	if name == "" || len(name) > 64 || name == "." || name == ".." {
		// "." and ".." would be path steps in /v1/listeners/{name}: no
		// route could reach such a gate, and a browser would turn the
		// admin page's call for ".." into one for every gate.
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

var actions = map[string]func(*acceptgate.Listener) error{
	"pause":  (*acceptgate.Listener).Pause,
	"reject": (*acceptgate.Listener).Reject,
	"resume": (*acceptgate.Listener).Resume,
}

func (h *Handler) gate(w http.ResponseWriter, name string) *acceptgate.Listener {
	h.mu.RLock()
	g := h.gates[name]
	h.mu.RUnlock()
	if g == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no listener named %q", name))
	}
	return g
}

func (h *Handler) sortedNames() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.names)
}

func (h *Handler) views(names []string) []View {
	h.mu.RLock()
	defer h.mu.RUnlock()
	vs := make([]View, 0, len(names))
	for _, n := range names {
		vs = append(vs, view(n, h.gates[n]))
	}
	return vs
}

func view(name string, g *acceptgate.Listener) View {
	st := g.Stats()
	return View{
		Name: name, Addr: g.Addr().String(), State: st.State.String(), Since: st.Since,
		Accepted: st.Accepted, Active: st.Active, Pending: st.Pending, Aborted: st.Aborted, Queued: st.Queued, Backlog: st.Backlog,
		PID: os.Getpid(), ProcessStarted: process.Started,
	}
}

// readRequest reads a state change's optional body. On a bad one it
// answers 413 or 400 itself and reports false.
func readRequest(w http.ResponseWriter, r *http.Request) (Request, bool) {
	var req Request
	if err := readBody(w, r, &req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
			return req, false
		}
		writeError(w, http.StatusBadRequest, "malformed body: "+err.Error())
		return req, false
	}
	return req, true
}

// change applies action to the named gates and answers with their views, or
// with the one view if one gate was asked for. The body is read in full
// before anything changes, so a bad body changes nothing, and a pause or
// reject of a gate the request came through is refused before any gate
// changes (see refuseOwnGate).
func (h *Handler) change(w http.ResponseWriter, r *http.Request, action string, names []string, one bool) {
	req, ok := readRequest(w, r)
	if !ok || h.refuseOwnGate(w, r, action, names, req.Reason) {
		return
	}
	h.mu.RLock()
	gates := make([]*acceptgate.Listener, len(names))
	for i, n := range names {
		gates[i] = h.gates[n]
	}
	h.mu.RUnlock()
	var errs []error
	for i, g := range gates {
		from := g.State()
		if err := actions[action](g); err != nil {
			h.logger.Warn("control: refused", "listener", names[i], "action", action, "remote", r.RemoteAddr, "reason", req.Reason, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", names[i], err))
			continue
		}
		h.logger.Info("control: "+action, "listener", names[i], "from", from.String(), "to", g.State().String(), "remote", r.RemoteAddr, "reason", req.Reason)
	}
	if len(errs) > 0 {
		writeError(w, http.StatusConflict, errors.Join(errs...).Error())
		return
	}
	if one {
		writeJSON(w, http.StatusOK, view(names[0], gates[0]))
		return
	}
	writeJSON(w, http.StatusOK, h.views(names))
}

func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// readiness is what /readyz tells anyone who asks: whether every gate
// accepts, and the states the gates are in, sorted and each named once.
type readiness struct {
	Ready    bool     `json:"ready"`
	States   []string `json:"states"`
	Draining bool     `json:"draining,omitempty"`
}

func (h *Handler) readyz(w http.ResponseWriter) {
	draining := h.draining()
	h.mu.RLock()
	rd := readiness{Ready: !draining, States: []string{}, Draining: draining}
	for _, g := range h.gates {
		st := g.State()
		if st != acceptgate.Accepting {
			rd.Ready = false
		}
		if !slices.Contains(rd.States, st.String()) {
			rd.States = append(rd.States, st.String())
		}
	}
	h.mu.RUnlock()
	slices.Sort(rd.States)
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff") // errors echo the client's Host
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
