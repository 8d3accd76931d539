package listener_test

import (
	"errors"
	"log"
	"net/http"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/listener"
)

// A service started by systemd socket activation serves the socket its
// unit names "http" (FileDescriptorName=http) behind a gate, and binds one
// itself when started by hand.
func ExampleSystemd() {
	socks, err := listener.Systemd(true)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := socks.Listener("http")
	var gate *acceptgate.Listener
	switch {
	case err == nil:
		gate = acceptgate.Wrap(ln) // not owned: Close leaves it to systemd
	case errors.Is(err, listener.ErrNoSocket) && len(socks) == 0:
		if gate, err = acceptgate.Listen(ctx, "tcp", "127.0.0.1:8080"); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatal(err)
	}
	log.Fatal(http.Serve(gate, nil))
}
