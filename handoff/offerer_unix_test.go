//go:build unix

package handoff_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// The test binary, started again with offerEnv set, is an old process: it
// serves one TCP gate, "g", answering "old:", and offers it at that path.
// It says "offering ADDR", logs the offer's records on stdout, and says
// "served: ERR" when Serve returns. Its stdin takes commands: "starve"
// lowers its descriptor limit so that the next descriptor it would make
// fails with EMFILE ("starved"), "feed" puts the limit back ("fed"),
// "close" closes the offer. At EOF it stops offering and exits.
const offerEnv = "ACCEPTGATE_HANDOFF_OFFER"

func offerChild(path string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := acceptgate.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	defer g.Close()
	stop := serveLines(g, "old")
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	o, err := handoff.Listen(ctx, path, map[string]*acceptgate.Listener{"g": g}, handoff.WithLogger(logger))
	if err != nil {
		fmt.Println("offer:", err)
		return 1
	}
	defer o.Close()
	served := make(chan error, 1)
	go func() { served <- o.Serve(ctx) }()
	fmt.Println("offering", g.Addr())

	commands := make(chan string)
	go func() {
		defer close(commands)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			commands <- in.Text()
		}
	}()
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		fmt.Println("getrlimit:", err)
		return 1
	}
	for {
		select {
		case err := <-served:
			fmt.Printf("served: closed=%t: %v\n", errors.Is(err, net.ErrClosed), err)
			served = nil
		case cmd, ok := <-commands:
			if !ok {
				return 0
			}
			switch cmd {
			case "starve":
				fmt.Println(starve(saved))
			case "close":
				o.Close()
			case "feed":
				if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
					fmt.Println("setrlimit:", err)
					continue
				}
				fmt.Println("fed")
			}
		}
	}
}

// starve sets the descriptor limit to the lowest free descriptor, so that
// the next one the process makes is over it.
func starve(saved syscall.Rlimit) string {
	fd, err := syscall.Dup(0)
	if err != nil {
		return fmt.Sprint("dup: ", err)
	}
	syscall.Close(fd)
	lim := saved
	setLimit(&lim.Cur, fd)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Sprint("setrlimit: ", err)
	}
	return "starved"
}

// setLimit sets an rlimit field, which is signed on some systems.
func setLimit[T int64 | uint64](field *T, n int) { *field = T(n) }

// startOfferer starts an old process offering at path; it returns the
// process and the address of its gate.
func startOfferer(t *testing.T, path string) (*newProcess, string) {
	t.Helper()
	p := startTestBinary(t, nil, offerEnv+"="+path)
	said := p.line(t)
	addr, ok := strings.CutPrefix(said, "offering ")
	require.True(t, ok, "the old process said %q", said)
	return p, addr
}

// lineWith returns the old process's next line that has want in it.
func (p *newProcess) lineWith(t *testing.T, want string) string {
	t.Helper()
	for range 1000 {
		if l := p.line(t); strings.Contains(l, want) {
			return l
		} else if strings.HasPrefix(l, "served:") {
			t.Fatalf("Serve returned while %q was awaited: %s", want, l)
		}
	}
	t.Fatalf("no line with %q in 1000", want)
	return ""
}

// say writes a command to the process's stdin.
func (p *newProcess) say(t *testing.T, cmd string) {
	t.Helper()
	_, err := fmt.Fprintln(p.stdin, cmd)
	require.NoError(t, err)
}
