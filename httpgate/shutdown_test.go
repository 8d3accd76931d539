package httpgate_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/httpgate"
)

// patience bounds every wait here; nothing waits for it to pass unless
// something is broken.
const patience = 10 * time.Second

// sequence shuts srv and gate down.
type sequence func(ctx context.Context, srv *http.Server, gate *acceptgate.Listener) error

// naive is what the docs said before httpgate: the server's Shutdown, then
// the gate's for what the server leaves.
func naive(ctx context.Context, srv *http.Server, gate *acceptgate.Listener) error {
	err := srv.Shutdown(ctx)
	return errors.Join(err, gate.Shutdown(ctx))
}

func library(ctx context.Context, srv *http.Server, gate *acceptgate.Listener) error {
	return httpgate.Shutdown(ctx, srv, gate)
}

// server serves hello on a tracking gate over network, and tells on news
// when the server got a connection (StateNew), by the client's address.
type server struct {
	gate   *acceptgate.Listener
	srv    *http.Server
	served chan error
	news   sync.Map // client address -> chan struct{}, closed at StateNew
}

func serve(t *testing.T, network string, h http.Handler) *server {
	t.Helper()
	address := "127.0.0.1:0"
	if network == "unix" {
		address = filepath.Join(t.TempDir(), "gate.sock")
	}
	gate, err := acceptgate.Listen(context.Background(), network, address, acceptgate.WithTracking())
	require.NoError(t, err)
	s := &server{gate: gate, served: make(chan error, 1)}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: patience, ConnState: func(c net.Conn, st http.ConnState) {
		if st != http.StateNew || network == "unix" {
			return
		}
		ch, _ := s.news.LoadOrStore(c.RemoteAddr().String(), make(chan struct{}))
		close(ch.(chan struct{}))
	}}
	go func() { s.served <- s.srv.Serve(gate) }()
	t.Cleanup(func() {
		s.srv.Close()
		gate.Close()
		select {
		case <-s.served:
		case <-time.After(patience):
			t.Error("Serve did not return")
		}
	})
	return s
}

// accepted waits until the server got c's connection.
func (s *server) accepted(t *testing.T, c net.Conn) {
	t.Helper()
	ch, _ := s.news.LoadOrStore(c.LocalAddr().String(), make(chan struct{}))
	select {
	case <-ch.(chan struct{}):
	case <-time.After(patience):
		t.Fatal("the server did not accept the connection")
	}
}

const request = "GET / HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n"

// answer sends a request on c unless it is empty, and reads the answer.
func answer(c net.Conn, req string) (*http.Response, error) {
	c.SetDeadline(time.Now().Add(patience))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			return nil, err
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadAll(resp.Body)
	return resp, err
}

// load runs clients that each open a new connection per request, in a loop
// bounded by perClient and by patience, until a connect is refused (the
// gate rejects or is closed). It counts the requests whose connect
// succeeded and that got no answer.
type load struct {
	answered, lost atomic.Int64
	firstLoss      atomic.Value // error
	wg             sync.WaitGroup
}

func startLoad(addr net.Addr, clients, perClient int) *load {
	ld := &load{}
	end := time.Now().Add(patience)
	for range clients {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for i := 0; i < perClient && time.Now().Before(end); i++ {
				c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
				if err != nil {
					return // refused: shutdown is under way
				}
				resp, err := answer(c, request)
				c.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					ld.lost.Add(1)
					ld.firstLoss.CompareAndSwap(nil, errors.Join(errors.New("connected, then"), err))
					continue
				}
				ld.answered.Add(1)
			}
		}()
	}
	return ld
}

// Every client whose connect succeeded gets its answer, under load: clients
// dialling while Shutdown starts, a connection the server accepted before
// Shutdown whose request arrives after it began (late), and clients waiting
// in the accept queue (queued, behind a pause). The naive sequence (the
// server's Shutdown, then the gate's) loses the late client and the queued
// ones every time: net/http closes unanswered a request it reads after its
// Shutdown began, and closing the gate resets the queue.
func TestShutdownAnswersEveryConnectedClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		network  string // tcp4 unless set
		shutdown sequence
		queue    bool // clients wait in the accept queue when shutdown starts
		loses    bool
	}{
		{name: "httpgate/load-and-late", shutdown: library},
		{name: "httpgate/queued", shutdown: library, queue: true},
		{name: "httpgate/unix/load", network: "unix", shutdown: library},
		{name: "httpgate/unix/queued", network: "unix", shutdown: library, queue: true},
		{name: "naive/load-and-late", shutdown: naive, loses: true},
		{name: "naive/queued", shutdown: naive, queue: true, loses: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, cmp.Or(tc.network, "tcp4"), nil)
			addr := s.gate.Addr()

			ld := startLoad(addr, 8, 300)
			deadline := time.Now().Add(patience)
			for ld.answered.Load() < 50 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polling interval, not synchronisation
			}
			require.GreaterOrEqual(t, ld.answered.Load(), int64(50), "the load runs")

			var late net.Conn
			var queued []net.Conn
			if tc.queue {
				require.NoError(t, s.gate.Pause())
				for range 4 {
					c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
					require.NoError(t, err, "the kernel completes the handshake of a paused gate")
					defer c.Close()
					_, err = io.WriteString(c, request)
					require.NoError(t, err)
					queued = append(queued, c)
				}
			} else if addr.Network() != "unix" { // a unix client has no address to be told by
				var err error
				late, err = net.DialTimeout(addr.Network(), addr.String(), patience)
				require.NoError(t, err)
				defer late.Close()
				s.accepted(t, late)
			}
			before := s.gate.State()

			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.shutdown(ctx, s.srv, s.gate) }()
			deadline = time.Now().Add(patience)
			for s.gate.State() == before && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // polling interval, not synchronisation
			}
			require.NotEqual(t, before, s.gate.State(), "shutdown began")

			lateLost, queuedLost := false, 0
			if late != nil {
				if resp, err := answer(late, request); err != nil || resp.StatusCode != http.StatusOK {
					lateLost = true
					t.Logf("the late request: %v", err)
				}
			}
			for i, c := range queued {
				if resp, err := answer(c, ""); err != nil || resp.StatusCode != http.StatusOK {
					queuedLost++
					t.Logf("queued client %d: %v", i, err)
				}
			}
			ld.wg.Wait()
			if ld.lost.Load() > 0 {
				t.Logf("load: %d of %d lost, first: %v", ld.lost.Load(), ld.lost.Load()+ld.answered.Load(), ld.firstLoss.Load())
			}
			err := <-done
			if tc.loses {
				if late != nil {
					assert.True(t, lateLost, "the naive sequence closes the late request unanswered")
				}
				assert.Equal(t, len(queued), queuedLost, "the naive sequence resets the queue")
				return
			}
			assert.False(t, lateLost, "the late request got no answer")
			assert.Zero(t, queuedLost, "queued clients that got no answer")
			assert.Zero(t, ld.lost.Load(), "clients that connected and got no answer")
			assert.NoError(t, err)
			serr := <-s.served
			assert.True(t, errors.Is(serr, net.ErrClosed) || errors.Is(serr, http.ErrServerClosed), "Serve returned %v", serr)
			s.served <- serr // for the cleanup
			assert.Equal(t, acceptgate.Closed, s.gate.State())
		})
	}
}

// Idle keep-alive connections are closed at once: Shutdown does not wait
// for them until its deadline.
func TestShutdownClosesIdleKeepAlives(t *testing.T) {
	s := serve(t, "tcp4", nil)
	c, err := net.DialTimeout("tcp", s.gate.Addr().String(), patience)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(patience)))
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: gate\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.False(t, resp.Close, "the connection is kept alive")

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	start := time.Now()
	require.NoError(t, httpgate.Shutdown(ctx, s.srv, s.gate), "nothing was left to close at the deadline")
	assert.Less(t, time.Since(start), patience/2)
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the idle connection was closed")
}

// A hijacked connection, which http.Server.Shutdown neither waits for nor
// closes, is closed when the context ends, and Shutdown says it forced it.
func TestShutdownClosesHijackedAtTheDeadline(t *testing.T) {
	hijacked := make(chan net.Conn, 1)
	s := serve(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			hijacked <- c // held open, as a WebSocket would be
		}
	}))
	c, err := net.DialTimeout("tcp", s.gate.Addr().String(), patience)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, request)
	require.NoError(t, err)
	select {
	case <-hijacked:
	case <-time.After(patience):
		t.Fatal("the handler did not hijack")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = httpgate.Shutdown(ctx, s.srv, s.gate)
	var fe *acceptgate.ForcedCloseError
	require.True(t, errors.As(err, &fe), "Shutdown's error %v is a *ForcedCloseError", err)
	assert.Equal(t, 1, fe.Conns)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(patience)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the hijacked connection was closed")
}
