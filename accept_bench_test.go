package acceptgate_test

import (
	"net"
	"testing"
	"time"

	"github.com/acceptgate/acceptgate"
)

// wakeableReady is a readyListener (fakes_test.go) with SetDeadline, as a
// *net.TCPListener has: the gate counts the goroutines inside its Accept.
type wakeableReady struct{ readyListener }

func (wakeableReady) SetDeadline(time.Time) error { return nil }

// quietConn is what readyListener hands out; closing it does nothing, so
// that a tracked slot is given back without a syscall.
type quietConn struct{ net.Conn }

func (quietConn) Close() error { return nil }

// BenchmarkAcceptShared compares goroutines that accept from one shared
// gate with goroutines that accept from a gate each, in memory: what the
// gate itself costs when many accept loops share it (the kernel's accept
// on one socket is serialised anyway). Run with -cpu 1,2,4,8,16; a
// machine shows contention only up to its cores.
func BenchmarkAcceptShared(b *testing.B) {
	server, client := net.Pipe()
	b.Cleanup(func() { server.Close(); client.Close() })
	inner := wakeableReady{readyListener{quietConn{server}}}
	for _, bc := range []struct {
		name string
		opts []acceptgate.Option
	}{
		{"untracked", nil},
		{"tracked", []acceptgate.Option{acceptgate.WithTracking()}},
	} {
		for _, shared := range []bool{true, false} {
			name := bc.name + "/own"
			if shared {
				name = bc.name + "/shared"
			}
			b.Run(name, func(b *testing.B) {
				one := acceptgate.Wrap(inner, bc.opts...)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					g := one
					if !shared {
						g = acceptgate.Wrap(inner, bc.opts...)
					}
					for pb.Next() {
						c, err := g.Accept()
						if err != nil {
							b.Error(err)
							return
						}
						c.Close()
					}
				})
			})
		}
	}
}
