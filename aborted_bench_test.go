package acceptgate

import (
	"net"
	"path/filepath"
	"testing"
)

// BenchmarkClientGaveUp measures the check WithSkipAborted adds to each
// accept, on a connection that is left as it was, so that the one
// connection serves every iteration: a client still connected (the usual
// case), and one that closed (TCP: a second system call to look at the
// receive queue).
func BenchmarkClientGaveUp(b *testing.B) {
	for _, bc := range []struct {
		name, network, address string
		clientCloses           bool
	}{
		{name: "tcp-connected", network: "tcp4", address: "127.0.0.1:0"},
		{name: "tcp-closed", network: "tcp4", address: "127.0.0.1:0", clientCloses: true},
		{name: "unix-connected", network: "unix"},
		{name: "unix-closed", network: "unix", clientCloses: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			address := bc.address
			if bc.network == "unix" {
				address = filepath.Join(b.TempDir(), "s")
			}
			ln, err := net.Listen(bc.network, address)
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial(bc.network, ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			if bc.clientCloses {
				client.Close()
				// The FIN crosses loopback within the close; checking until
				// it shows bounds the wait all the same.
				for i := 0; !clientGaveUp(server); i++ {
					if i > 1e6 {
						b.Skip("the client's close does not show here")
					}
				}
			}
			want := clientGaveUp(server)
			b.ReportAllocs()
			for b.Loop() {
				if clientGaveUp(server) != want {
					b.Fatal("the answer changed")
				}
			}
		})
	}
}
