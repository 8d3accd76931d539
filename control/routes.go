package control

import (
	"fmt"
	"net/http"
	"path"
	"strings"
)

// ServeHTTP decides whether the request may be served at all, then routes
// it; see Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.audit.flush()
	// Every answer is what its Content-Type says; a browser must not take
	// a route's text (WithHandler's included) for a page of this origin.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Nothing the API answers may be kept by a browser's or a proxy's
	// cache, where a later user of the machine would find it without the
	// token: WithHandler's answers included.
	w.Header().Set("Cache-Control", "no-store")
	p := strings.TrimSuffix(r.URL.Path, "/")
	// The page holds no data: it needs no token to load, only to call.
	if status, reason := h.admit(r, p == "/readyz" || r.URL.Path == "/", p == "/readyz"); status != 0 {
		h.refuse(w, r, status, reason)
		return
	}
	h.noticeOwnGate(r)
	if r.URL.Path == "/" {
		if allowMethod(w, r, http.MethodGet) {
			servePage(w)
		}
		return
	}
	if p == "" || path.Clean(p) != p {
		// ServeMux would redirect to the clean path; answer as for any
		// route that does not exist, in JSON.
		writeError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
		return
	}
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	if extra, ok := h.extra[p]; ok {
		if allowMethod(w, r, http.MethodGet) {
			extra.ServeHTTP(&noStoreWriter{w}, &r2)
		}
		return
	}
	h.mux.ServeHTTP(w, &r2)
}

// routes is the API's mux. Methods are checked by the handlers, not by the
// patterns, so that a wrong method is answered in JSON too.
func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/readyz", h.onlyGet(func(w http.ResponseWriter, r *http.Request) { h.readyz(w) }))
	m.HandleFunc("/v1/listeners", h.onlyGet(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.views(h.sortedNames()))
	}))
	m.HandleFunc("/v1/listeners/{name}", h.onlyGet(func(w http.ResponseWriter, r *http.Request) {
		if g := h.gate(w, r.PathValue("name")); g != nil {
			writeJSON(w, http.StatusOK, view(r.PathValue("name"), g))
		}
	}))
	m.HandleFunc("/v1/listeners/{name}/{action}", h.onlyPost(func(w http.ResponseWriter, r *http.Request) {
		if h.gate(w, r.PathValue("name")) != nil {
			h.change(w, r, r.PathValue("action"), []string{r.PathValue("name")}, true)
		}
	}))
	m.HandleFunc("/v1/drain", h.serveDrain) // drain.go
	m.HandleFunc("/v1/{action}", h.onlyPost(func(w http.ResponseWriter, r *http.Request) {
		h.change(w, r, r.PathValue("action"), h.sortedNames(), false)
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
	})
	return m
}

// onlyGet serves GET and HEAD with f, and refuses other methods.
func (h *Handler) onlyGet(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allowMethod(w, r, http.MethodGet) {
			f(w, r)
		}
	}
}

// onlyPost serves POST with f for a known action, and refuses other
// methods; an unknown action is an unknown route.
func (h *Handler) onlyPost(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if actions[r.PathValue("action")] == nil {
			writeError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			return
		}
		if allowMethod(w, r, http.MethodPost) {
			f(w, r)
		}
	}
}

func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
	return false
}

// noStoreWriter keeps "Cache-Control: no-store" on an answer of a route
// added by WithHandler, whatever that handler set: the route is behind the
// token, and its answer is no more to be cached than the API's own.
type noStoreWriter struct{ http.ResponseWriter }

func (w *noStoreWriter) WriteHeader(code int) {
	w.Header().Set("Cache-Control", "no-store")
	w.ResponseWriter.WriteHeader(code)
}

// Write sets the header too: a first Write sends the header without a
// WriteHeader. Once the header is sent, setting it changes nothing.
func (w *noStoreWriter) Write(b []byte) (int, error) {
	w.Header().Set("Cache-Control", "no-store")
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer, for
// Flush and deadlines.
func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
