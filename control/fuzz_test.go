package control_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/acceptgate/acceptgate/control"
)

// FuzzAPI sends arbitrary requests to the admin API, with arbitrary Host,
// Origin, Sec-Fetch-Site and Authorization headers, to a Handler with or
// without a token. It must never panic, must always answer JSON with a
// status it documents and that fits the request, and must change no state
// on a GET or HEAD, from a cross-origin browser, from a foreign Host
// (without a token), or unauthenticated (with one).
func FuzzAPI(f *testing.F) {
	f.Add("GET", "/v1/listeners", "", "127.0.0.1:9090", "", "", "Bearer "+token, true)
	f.Add("POST", "/v1/listeners/web/pause", `{"reason":"x"}`, "localhost", "", "", "Bearer "+token, true)
	f.Add("POST", "/v1/reject", "", "127.0.0.1", "", "", "", true)
	f.Add("POST", "/v1/reject", "", "127.0.0.1", "", "", "", false)
	f.Add("POST", "/v1/pause", "x", "127.0.0.1:9090", "https://evil.example", "cross-site", "bearer "+token, true)
	f.Add("POST", "/v1/pause", "x", "127.0.0.1:9090", "https://evil.example", "", "", false)
	f.Add("POST", "/v1/pause", "", "evil.example:9090", "http://evil.example:9090", "same-origin", "", false)
	f.Add("POST", "/v1/pause", "", "127.0.0.1:9090", "http://127.0.0.1:9090", "same-origin", "", false)
	f.Add("GET", "/v1/listeners/web/resume", "", "[::1]:9090", "null", "none", "Bearer "+token, true)
	f.Add("PUT", "/readyz", "{", "", "", "", "", false)
	f.Add("GET", "/", "", "127.0.0.1:9090", "", "", "", true)
	f.Add("POST", "/", "", "127.0.0.1:9090", "https://evil.example", "cross-site", "", false)
	f.Add("POST", "/v1/listeners/../pause", "\x00", "127.0.0.1", "", "", "BEARER  "+token, true)
	f.Fuzz(func(t *testing.T, method, path, body, host, origin, site, auth string, withToken bool) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			t.Skip()
		}
		if _, err := url.ParseRequestURI(path); err != nil || strings.ContainsAny(path, " #?") {
			t.Skip() // not a request line a client could send
		}
		opts := []control.Option{}
		if withToken {
			opts = append(opts, control.WithToken(token))
		}
		h, gates := fixture(t, opts...)
		req := httptest.NewRequest(method, "http://admin"+path, strings.NewReader(body))
		req.Host = host
		req.RemoteAddr = "127.0.0.1:40000"
		for k, v := range map[string]string{"Origin": origin, "Sec-Fetch-Site": site, "Authorization": auth} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		before := map[string]string{}
		for n, g := range gates {
			before[n] = g.State().String()
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case 200, 400, 401, 403, 404, 405, 409, 413, 421, 503:
		default:
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		page := req.URL.Path == "/" && rec.Code == http.StatusOK
		wantType := "application/json"
		if page {
			wantType = "text/html; charset=utf-8"
		}
		if ct := rec.Header().Get("Content-Type"); ct != wantType {
			t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
		if method != "HEAD" && !page && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
		}
		probe := strings.TrimSuffix(req.URL.Path, "/") == "/readyz" // answers any Host: balancers send none
		foreign := !withToken && !localName(host) && !probe
		cross := unsafeMethod(method) && crossOrigin(browser{method: method, host: host, origin: origin, site: site})
		public := probe || req.URL.Path == "/" // the page holds no data
		unauthenticated := withToken && !bearer(auth) && !public
		var want int
		switch {
		case foreign:
			want = http.StatusMisdirectedRequest
		case cross:
			want = http.StatusForbidden
		case unauthenticated:
			want = http.StatusUnauthorized
		}
		if want != 0 && rec.Code != want {
			t.Fatalf("%s %s (host %q, origin %q, site %q, token %v): status %d, want %d", method, path, host, origin, site, withToken, rec.Code, want)
		}
		if method == http.MethodGet || method == http.MethodHead || want != 0 || rec.Code != http.StatusOK {
			for n, g := range gates {
				if g.State().String() != before[n] {
					t.Fatalf("%s %s (host %q, origin %q, site %q, token %v) answered %d and changed %s from %s to %s",
						method, path, host, origin, site, withToken, rec.Code, n, before[n], g.State())
				}
			}
		}
	})
}

// localName reports whether host names the server as only a local client
// would: a loopback address or localhost, with or without a port.
func localName(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// bearer reports whether auth carries the fixture's token.
func bearer(auth string) bool {
	scheme, cred, ok := strings.Cut(auth, " ")
	return ok && strings.EqualFold(scheme, "bearer") && strings.TrimLeft(cred, " ") == token
}

func unsafeMethod(m string) bool { return m != "GET" && m != "HEAD" && m != "OPTIONS" }

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
