package control_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acceptgate/acceptgate/control"
)

// TestServerErrorLineIsUnder1KB: a line net/http writes to NewServer's
// ErrorLog becomes an audit line under 1 KB whatever it holds (crypto/tls
// quotes what a client sent in some handshake errors), escapes included,
// with slog's text and JSON handlers.
func TestServerErrorLineIsUnder1KB(t *testing.T) {
	hostile := "http: TLS handshake error from 127.0.0.1:40000: " + strings.Repeat(`"\`, 1000) + strings.Repeat("\xff\x00", 500) + "\n"
	for name, mk := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var log bytes.Buffer
			srv := control.NewServer(control.NewHandler(control.WithLogger(slog.New(mk(&log)))))
			srv.ErrorLog.Print(hostile)
			lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
			assert.Len(t, lines, 1, "one line")
			assert.Less(t, len(lines[0]), 1024, "under 1 KB: %s", lines[0])
			assert.Contains(t, lines[0], "TLS handshake error from 127.0.0.1:40000", "the start is kept")
		})
	}
}
