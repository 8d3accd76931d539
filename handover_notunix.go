//go:build !unix

package acceptgate

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/acceptgate/acceptgate/internal/handover"
)

var errNoHandover = fmt.Errorf("handing sockets over on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func describe(*socket, State) (handover.Socket, error) { return handover.Socket{}, errNoHandover }

func dupFDs(*socket) ([]int, error) { return nil, errNoHandover }

func (s *socket) letGo() error { return s.ln.Close() }

func adoptSocket(_ handover.Socket, _ State, files []*os.File, _ config) (*socket, error) {
	closeFiles(files)
	return nil, errNoHandover
}
