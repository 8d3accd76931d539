package control_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// TestAuditLineIsUnder1KBWhateverEveryFieldHolds: a refused request whose
// every logged field is long and made of what a logger escapes (quotes,
// backslashes, bytes that are not ASCII) logs one line under 1 KB, as docs/security.md
// says, with slog's text and JSON handlers, for every kind of refusal, and
// each field keeps a useful part of what was sent.
func TestAuditLineIsUnder1KBWhateverEveryFieldHolds(t *testing.T) {
	hostile := strings.Repeat(`"\`, 300) + strings.Repeat("\xff\x00é", 100)
	handlers := map[string]func(io.Writer) slog.Handler{
		"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
		"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
	}
	refusals := []struct {
		name   string
		token  bool
		status int
		method string // "" for a hostile one
		remote string // "" for a hostile one
		auth   string
	}{
		{name: "foreign Host without a token", status: 421, method: "GET", remote: "127.0.0.1:40000"},
		{name: "foreign client without a token", status: 403},
		{name: "cross-origin browser", token: true, status: 403},
		{name: "no token", token: true, status: 401, method: "GET", remote: "127.0.0.1:40000"},
		{name: "wrong token", token: true, status: 401, method: "GET", remote: "127.0.0.1:40000", auth: "Bearer " + hostile},
	}
	for hname, newHandler := range handlers {
		for _, rf := range refusals {
			t.Run(hname+"/"+rf.name, func(t *testing.T) {
				var log bytes.Buffer
				opts := []control.Option{control.WithLogger(slog.New(newHandler(&log)))}
				if rf.token {
					opts = append(opts, control.WithToken(token))
				}
				h := control.NewHandler(opts...)
				req := httptest.NewRequest("GET", "http://admin/v1/listeners", nil)
				req.Method, req.RemoteAddr = rf.method, rf.remote
				if req.Method == "" {
					req.Method = hostile
				}
				if req.RemoteAddr == "" {
					req.RemoteAddr = hostile
				}
				req.URL.Path, req.Host = "/v1/"+hostile, hostile
				req.Header.Set("Origin", hostile)
				req.Header.Set("Sec-Fetch-Site", hostile)
				if rf.auth != "" {
					req.Header.Set("Authorization", rf.auth)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				require.Equal(t, rf.status, rec.Code, "%s", rec.Body)

				line := log.String()
				require.Equal(t, 1, strings.Count(line, "\n"), "one line:\n%s", line)
				assert.Less(t, len(line), 1024, "docs/security.md: each audit line is under 1 KB:\n%s", line)
				if hname == "json" {
					var fields map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &fields))
					sent := map[string]string{"remote": req.RemoteAddr, "method": req.Method, "path": req.URL.Path, "host": hostile, "origin": hostile, "sec_fetch_site": hostile}
					for k, s := range sent {
						v, _ := fields[k].(string)
						assert.GreaterOrEqual(t, len(v), min(len(s), 40), "%s keeps a useful part of what was sent: %q", k, v)
					}
					assert.NotEmpty(t, fields["reason"])
				}
			})
		}
	}
}
