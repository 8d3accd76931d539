package control

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

// page is the admin page served at "/": one file, its script and style
// inline, calling only this API.
//
//go:embed page.html
var page []byte

// pagePolicy lets the page run only its own inline script and style, talk
// only to the origin that served it, and be framed by nobody, so that
// another site can neither inject into it nor trick clicks on its buttons.
var pagePolicy = "default-src 'none'; " +
	"script-src " + inlineHash("<script>", "</script>") + "; " +
	"style-src " + inlineHash("<style>", "</style>") + "; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHash returns the CSP source matching the page's one element between
// open and end.
func inlineHash(open, end string) string {
	_, rest, _ := strings.Cut(string(page), open)
	body, _, _ := strings.Cut(rest, end)
	sum := sha256.Sum256([]byte(body))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func servePage(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", pagePolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	w.Write(page)
}
