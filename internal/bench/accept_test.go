package bench_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/netutil"

	"github.com/acceptgate/acceptgate"
)

// readyListener hands out the same connection at once, every time: the
// Accept path with no kernel in it.
type readyListener struct{ c net.Conn }

func (r readyListener) Accept() (net.Conn, error) { return r.c, nil }
func (r readyListener) Close() error              { return nil }
func (r readyListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// wakeable is a readyListener with SetDeadline, so the gate counts the
// goroutines inside its Accept to keep Pause strict, as it does for
// *net.TCPListener.
type wakeable struct{ readyListener }

func (wakeable) SetDeadline(time.Time) error { return nil }

// noopConn is what Accept hands out; closing it does nothing, so that the
// limit's slot is given back without a syscall.
type noopConn struct{ net.Conn }

func (noopConn) Close() error { return nil }

const limit = 1 << 20 // never reached: the benchmarks measure the limit's bookkeeping

// BenchmarkAccept measures one Accept and Close of the returned conn, with
// no kernel in the way.
func BenchmarkAccept(b *testing.B) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	inner := readyListener{noopConn{server}}
	for _, bc := range []struct {
		name string
		ln   net.Listener
	}{
		{"raw", inner},
		{"gate-untracked", acceptgate.Wrap(inner)},
		{"gate-untracked-wakeable", acceptgate.Wrap(wakeable{inner})},
		{"gate-tracked", acceptgate.Wrap(inner, acceptgate.WithTracking())},
		{"gate-max-conns", acceptgate.Wrap(inner, acceptgate.WithMaxConns(limit))},
		{"netutil-limit", netutil.LimitListener(inner, limit)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := bc.ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
