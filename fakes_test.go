package acceptgate_test

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The fake listeners of this package's tests, for what a real socket cannot
// be made to do: fail every Accept, hand out a connection with no kernel in
// the way, ignore SetDeadline.

// temporaryError is what accept4 failing with EMFILE looks like to a
// server: a temporary net.Error, so it backs off and tries again.
var temporaryError = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}

// failingListener fails every Accept with a temporary error, as a listener
// out of descriptors does; a deadline in the past fails it with a timeout,
// as it does a real one.
type failingListener struct {
	mu       sync.Mutex
	deadline time.Time
	closed   bool
	calls    int
}

func (f *failingListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.closed:
		return nil, net.ErrClosed
	case !f.deadline.IsZero() && time.Now().After(f.deadline):
		return nil, &net.OpError{Op: "accept", Err: os.ErrDeadlineExceeded}
	}
	return nil, temporaryError
}

func (f *failingListener) SetDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	return nil
}

func (f *failingListener) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (f *failingListener) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// scriptedListener returns the errors it holds, then blocks until closed.
type scriptedListener struct {
	mu     sync.Mutex
	errs   []error
	closed chan struct{}
}

func (s *scriptedListener) Accept() (net.Conn, error) {
	s.mu.Lock()
	if s.closed == nil {
		s.closed = make(chan struct{})
	}
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		s.mu.Unlock()
		return nil, err
	}
	closed := s.closed
	s.mu.Unlock()
	<-closed
	return nil, net.ErrClosed
}

func (s *scriptedListener) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed == nil {
		s.closed = make(chan struct{})
	}
	close(s.closed)
	return nil
}

func (s *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// readyListener hands out the same connection at once, every time: the
// Accept path with no kernel in it.
type readyListener struct{ c net.Conn }

func (r readyListener) Accept() (net.Conn, error) { return r.c, nil }
func (r readyListener) Close() error              { return nil }
func (r readyListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// unwakeable is a listener whose SetDeadline does not wake its Accept.
type unwakeable struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (u *unwakeable) Accept() (net.Conn, error) {
	select {
	case c := <-u.conns:
		return c, nil
	case <-u.closed:
		return nil, net.ErrClosed
	}
}
func (u *unwakeable) SetDeadline(time.Time) error { return nil }
func (u *unwakeable) Close() error                { u.once.Do(func() { close(u.closed) }); return nil }
func (u *unwakeable) Addr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
