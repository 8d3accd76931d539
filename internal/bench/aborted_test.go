package bench_test

import (
	"net"
	"testing"

	"github.com/acceptgate/acceptgate"
)

// BenchmarkAcceptQueued measures taking one connection that already waits in
// the kernel's queue, and closing it, over real loopback sockets: what
// WithSkipAborted adds to each accept (on Linux, a TCP_INFO read) against the
// same gate without it. Clients are dialled in batches with the timer
// stopped; they stay connected, so nothing is skipped.
func BenchmarkAcceptQueued(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []acceptgate.Option
		raw  bool
	}{
		{name: "raw", raw: true},
		{name: "gate"},
		{name: "gate-skip-aborted", opts: []acceptgate.Option{acceptgate.WithSkipAborted()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ln net.Listener = listenLoopback(b)
			if !bc.raw {
				ln = acceptgate.Wrap(ln, bc.opts...)
			}
			defer ln.Close()
			addr := ln.Addr().String()
			const batch = 64
			clients := make([]net.Conn, 0, batch)
			b.ReportAllocs()
			b.ResetTimer()
			b.StopTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				for range n {
					clients = append(clients, dialOne(b, addr))
				}
				b.StartTimer()
				for range n {
					c, err := ln.Accept()
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
				}
				b.StopTimer()
				for _, c := range clients {
					c.(*net.TCPConn).SetLinger(0) // no TIME_WAIT piles up
					c.Close()
				}
				clients = clients[:0]
				done += n
			}
		})
	}
}
