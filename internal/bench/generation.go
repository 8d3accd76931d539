package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// GenerationName is the gate name a server generation offers its socket
// under.
const GenerationName = "lines"

// ServeGeneration is one generation of the server FDHandoff moves traffic
// between: run it in a process of its own. The first generation (take
// false) listens at address, or serves the listening socket at descriptor
// N for address "fd:N"; a later one takes the socket from the offer at
// path. Each serves the one-line echo, offers its socket at path, and
// returns once the next generation has taken it and its own connections
// ended, or when ctx is done. It writes what FDHandoff reads to out: the
// address, then, for a taker, when the take began and was committed.
func ServeGeneration(ctx context.Context, path string, take bool, address string, out io.Writer) error {
	var gate *acceptgate.Listener
	var servers sync.WaitGroup
	if take {
		began := time.Now()
		tk, err := handoff.Take(ctx, path)
		if err != nil {
			return err
		}
		gate = tk.Listeners()[GenerationName]
		if gate == nil {
			tk.Abort()
			return fmt.Errorf("no gate named %q offered", GenerationName)
		}
		serveLines(&servers, gate)
		if err := tk.Commit(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "took %d %d\n", began.UnixNano(), time.Now().UnixNano())
	} else if fd, ok := strings.CutPrefix(address, "fd:"); ok {
		n, err := strconv.Atoi(fd)
		if err != nil {
			return fmt.Errorf("address %q: %w", address, err)
		}
		f := os.NewFile(uintptr(n), "inherited listener")
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return err
		}
		gate = acceptgate.Wrap(ln)
		serveLines(&servers, gate)
	} else {
		var err error
		if gate, err = acceptgate.Listen(ctx, "tcp", address); err != nil {
			return err
		}
		serveLines(&servers, gate)
	}
	defer func() {
		gate.Close()
		servers.Wait()
	}()
	o, err := handoff.Listen(ctx, path, map[string]*acceptgate.Listener{GenerationName: gate})
	if err != nil {
		return err
	}
	defer o.Close()
	fmt.Fprintf(out, "offering %s\n", gate.Addr())
	if err := o.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// generation is a server process FDHandoff started.
type generation struct {
	wait  func() error
	stop  func() // closes its stdin: a generation still serving then ends
	lines *bufio.Scanner
}

// expect reads the generation's next line, which must be word or start
// with word and a space, and returns what follows.
func (g *generation) expect(word string, timeout time.Duration) (string, error) {
	got := make(chan bool, 1)
	go func() { got <- g.lines.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			return "", fmt.Errorf("server generation ended before saying %q (%v)", word, g.lines.Err())
		}
	case <-time.After(timeout):
		return "", fmt.Errorf("server generation silent for %v, waiting for %q", timeout, word)
	}
	line := g.lines.Text()
	if rest, ok := strings.CutPrefix(line, word); ok && (rest == "" || rest[0] == ' ') {
		return strings.TrimPrefix(rest, " "), nil
	}
	return "", fmt.Errorf("server generation said %q, want %q", line, word)
}
