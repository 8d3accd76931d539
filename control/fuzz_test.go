package control_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acceptgate/acceptgate/control"
)

// FuzzAPI sends arbitrary requests to the admin API. It must never panic,
// must always answer JSON with a status it documents, and must change no
// state on a GET or HEAD or without the token.
func FuzzAPI(f *testing.F) {
	f.Add("GET", "/v1/listeners", "", true)
	f.Add("POST", "/v1/listeners/web/pause", `{"reason":"x"}`, true)
	f.Add("POST", "/v1/reject", "", false)
	f.Add("GET", "/v1/listeners/web/resume", "", true)
	f.Add("PUT", "/readyz", "{", true)
	f.Add("POST", "/v1/listeners/../pause", "\x00", true)
	f.Fuzz(func(t *testing.T, method, path, body string, withToken bool) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			t.Skip()
		}
		if _, err := url.ParseRequestURI(path); err != nil || strings.ContainsAny(path, " #?") {
			t.Skip() // not a request line a client could send
		}
		h, gates := fixture(t, control.WithToken(token))
		req := httptest.NewRequest(method, "http://admin"+path, strings.NewReader(body))
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		before := map[string]string{}
		for n, g := range gates {
			before[n] = g.State().String()
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case 200, 400, 401, 404, 405, 409, 413, 503:
		default:
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		if method != "HEAD" && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
		}
		if method == http.MethodGet || method == http.MethodHead || !withToken {
			for n, g := range gates {
				if g.State().String() != before[n] {
					t.Fatalf("%s %s (token %v) changed %s from %s to %s", method, path, withToken, n, before[n], g.State())
				}
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
