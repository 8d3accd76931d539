package control_test

// What a hostile local user or web page tries against the admin API and its
// command, and what must hold.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// syncBuffer is a bytes.Buffer safe for a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuditReportsAFloodsTailOnceItsSecondIsOver: a flood that stops is told, with how many refusals were left out, at the next request of any kind.
func TestAuditReportsAFloodsTailOnceItsSecondIsOver(t *testing.T) {
	var log syncBuffer
	h, _ := fixture(t, control.WithToken(token), control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	now := time.Unix(1000, 0)
	control.SetAuditClock(h, func() time.Time { return now })

	flood := browser{method: "POST", path: "/v1/pause", host: "127.0.0.1", remote: "192.0.2.7:5555", auth: "Bearer guess"}
	for range 1000 {
		status, _ := flood.send(t, h)
		require.Equal(t, 401, status)
	}
	// The flood stops; an hour of normal, authenticated use follows.
	now = now.Add(time.Hour)
	for range 10 {
		status, _ := browser{method: "GET", path: "/v1/listeners", host: "127.0.0.1", auth: "Bearer " + token}.send(t, h)
		require.Equal(t, 200, status)
	}
	out := log.String()
	assert.True(t, strings.Contains(out, `refused requests not logged" count=990`),
		"an hour after the flood the log holds %d lines and nothing says that 990 more refusals were left out",
		strings.Count(out, "\n"))
}

// TestAuditLinesStayShortWhateverTheRequest: the largest refused request an attacker can make logs one short line, under 1 KB (see also TestAuditLineIsUnder1KBWhateverEveryFieldHolds).
func TestAuditLinesStayShortWhateverTheRequest(t *testing.T) {
	var log syncBuffer
	h, _ := fixture(t, control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()

	path := "/" + strings.Repeat("%00", 200)
	host := strings.Repeat("a", 200) + ":1"
	junk := strings.Repeat("\xff", 200)
	method := strings.Repeat("M", 200)
	req := method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nOrigin: " + junk + "\r\nSec-Fetch-Site: " + junk + "\r\nConnection: close\r\n\r\n"
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	require.Eventually(t, func() bool { return strings.Contains(log.String(), "refused request") }, 5*time.Second, 10*time.Millisecond)
	line := strings.TrimSpace(log.String())
	perDay := len(line) * control.AuditPerSecond * 86400
	t.Logf("one audit line: %d bytes; a sustained flood writes %.2f GB a day, %.1f GB a week", len(line), float64(perDay)/1e9, float64(perDay)*7/1e9)
	assert.Less(t, len(line), 1024, "a refused request's audit line is under 1 KB, as docs/security.md says")
}

// TestClientTellsNothingToASocketAnotherUserOwns: another local user who took the admin socket's path gets neither the token nor a request to answer.
func TestClientTellsNothingToASocketAnotherUserOwns(t *testing.T) {
	if !runningAsRoot() {
		t.Skip("needs root to chown the socket to another user")
	}
	path := t.TempDir() + "/admin.sock"
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, chownOther(path)) // the impostor's socket
	got := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "[]")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := control.NewClient(path, "operator-secret")
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Change(context.Background(), "pause", "")
	select {
	case auth := <-got:
		assert.NotContains(t, auth, "operator-secret", "the token went to a socket owned by uid 65534 (and ctl reported success: err=%v)", err)
	default:
		assert.Error(t, err, "the client refuses a socket another user owns")
	}
}
