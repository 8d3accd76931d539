package backlog

import "github.com/acceptgate/acceptgate/internal/sockets"

func handshakesOf(fd uintptr) (int, error) {
	d, err := sockets.OpenDiag()
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return d.Handshakes(fd)
}

func listenersOf(fd uintptr) (int, error) {
	d, err := sockets.OpenDiag()
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return d.Listeners(fd)
}
