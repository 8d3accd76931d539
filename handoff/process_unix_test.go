//go:build unix

package handoff_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
)

// The test binary, started again with childEnv set, is the new process: it
// takes the gates from the offer at that path and serves them, answering
// "new:". Its stdin takes commands ("resume NAME"); at EOF it closes the
// gates and exits.
const childEnv = "ACCEPTGATE_HANDOFF_TAKE"

// dieEnv makes the child exit after it took the gates, before Commit.
const dieEnv = "ACCEPTGATE_HANDOFF_DIE"

func mainWithChild(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path))
	}
	if path := os.Getenv(offerEnv); path != "" {
		os.Exit(offerChild(path))
	}
	if path := os.Getenv(rawTakerEnv); path != "" {
		os.Exit(rawTakerChild(path))
	}
	goleak.VerifyTestMain(m)
}

func child(path string) int {
	ctx := context.Background()
	tk, err := handoff.Take(ctx, path)
	if err != nil {
		fmt.Println("take:", err)
		return 1
	}
	if os.Getenv(dieEnv) != "" {
		os.Exit(3) // the gates go with the process; the old one must roll back
	}
	gates := tk.Listeners()
	var stops []func()
	for _, g := range gates {
		stops = append(stops, serveLines(g, "new"))
	}
	if err := tk.Commit(ctx); err != nil {
		fmt.Println("commit:", err)
		return 1
	}
	states := map[string]string{}
	for name, g := range gates {
		states[name] = g.State().String()
	}
	b, _ := json.Marshal(states)
	fmt.Printf("committed %s\n", b)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var name string
		if _, err := fmt.Sscanf(in.Text(), "resume %s", &name); err == nil && gates[name] != nil {
			fmt.Println("resume:", gates[name].Resume())
		}
	}
	for _, g := range gates {
		g.Close()
	}
	for _, stop := range stops {
		stop()
	}
	return 0
}

type newProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startTaker(t *testing.T, path string, env ...string) *newProcess {
	t.Helper()
	return startTakerAs(t, nil, path, env...)
}

// startTakerAs starts the new process through wrapper, a command such as
// setpriv that runs the rest of its arguments, if it is not nil.
func startTakerAs(t *testing.T, wrapper []string, path string, env ...string) *newProcess {
	t.Helper()
	return startTestBinary(t, wrapper, append(env, childEnv+"="+path)...)
}

// startTestBinary starts this test binary again, through wrapper if it is
// not nil, with env added to the environment; the env says what it is to
// be (see mainWithChild).
func startTestBinary(t *testing.T, wrapper []string, env ...string) *newProcess {
	t.Helper()
	argv := append(append([]string(nil), wrapper...), os.Args[0], "-test.run=^$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &newProcess{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(patience):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

func (p *newProcess) line(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		if p.out.Scan() {
			got <- p.out.Text()
		}
		close(got)
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(patience):
		t.Fatal("the new process said nothing")
		return ""
	}
}

// load runs client loops against targets until stop, each connection one
// line and its answer, and counts what they saw. Loops are bounded by
// maxConns and by time.
type load struct {
	served, failed atomic.Int64
	firstErr       atomic.Pointer[error]
	stop           chan struct{}
	wg             sync.WaitGroup
}

func startLoad(targets [][2]string, loops int) *load {
	const maxConns = 200_000
	l := &load{stop: make(chan struct{})}
	var total atomic.Int64
	for i := range loops {
		tgt := targets[i%len(targets)]
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for total.Add(1) <= maxConns {
				select {
				case <-l.stop:
					return
				default:
				}
				if _, err := ask(tgt[0], tgt[1]); err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, &err)
					continue
				}
				l.served.Add(1)
			}
		}()
	}
	return l
}

func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	var first error
	if p := l.firstErr.Load(); p != nil {
		first = *p
	}
	assert.Zero(t, l.failed.Load(), "clients that were not served (first: %v)", first)
	t.Logf("%d clients served", l.served.Load())
}

// Two real processes: the gates (TCP and unix, accepting and rejecting) move
// to the new one while clients connect throughout, and every client is
// served.
func TestHandOverToAnotherProcessUnderLoad(t *testing.T) {
	dir := shortDir(t)
	tcpGate, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcpGate.Close()
	unixGate, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(dir, "gate.sock"))
	require.NoError(t, err)
	defer unixGate.Close()
	rejTCP, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer rejTCP.Close()
	rejUnix, err := acceptgate.Listen(context.Background(), "unix", filepath.Join(dir, "rejecting.sock"))
	require.NoError(t, err)
	defer rejUnix.Close()
	require.NoError(t, rejTCP.Reject())
	require.NoError(t, rejUnix.Reject())
	gates := map[string]*acceptgate.Listener{"tcp": tcpGate, "unix": unixGate, "rejtcp": rejTCP, "rejunix": rejUnix}
	var stops []func()
	for _, g := range gates {
		stops = append(stops, serveLines(g, "old"))
	}
	lo := startLoad([][2]string{{"tcp", tcpGate.Addr().String()}, {"unix", unixGate.Addr().String()}}, 4)
	eventually(t, func() bool { return lo.served.Load() > 100 }, "clients to be served before the handoff")

	path, served := offer(t, gates)
	p := startTaker(t, path)
	assert.Equal(t, `committed {"rejtcp":"rejecting","rejunix":"rejecting","tcp":"accepting","unix":"accepting"}`, p.line(t))
	require.NoError(t, served())
	for _, stop := range stops {
		stop() // the old process's servers end, as at its exit
	}
	before := lo.served.Load()
	eventually(t, func() bool { return lo.served.Load() > before+100 }, "clients to be served by the new process")
	assertServedBy(t, "new", "tcp", tcpGate.Addr().String())
	assertServedBy(t, "new", "unix", unixGate.Addr().String())
	for _, name := range []string{"rejtcp", "rejunix"} {
		g := gates[name]
		nw := dialNetwork(g.Addr().Network())
		_, err := net.Dial(nw, g.Addr().String())
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "%s refuses in the new process: %v", name, err)
		fmt.Fprintf(p.stdin, "resume %s\n", name)
		assert.Equal(t, "resume: <nil>", p.line(t))
		assertServedBy(t, "new", nw, g.Addr().String())
	}
	lo.end(t)
}

// The new process dies after it took the sockets and before it committed:
// the old one rolls back and serves on, and no client is lost.
func TestNewProcessDiesBeforeCommit(t *testing.T) {
	g, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer g.Close()
	stop := serveLines(g, "old")
	defer stop()
	lo := startLoad([][2]string{{"tcp", g.Addr().String()}}, 4)
	path, _ := offer(t, map[string]*acceptgate.Listener{"g": g})
	p := startTaker(t, path, dieEnv+"=1")
	err = p.cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.ExitCode())
	eventually(t, func() bool { return g.State() == acceptgate.Accepting }, "the old gate to roll back")
	before := lo.served.Load()
	eventually(t, func() bool { return lo.served.Load() > before+100 }, "clients to be served by the old process again")
	assertServedBy(t, "old", "tcp", g.Addr().String())
	lo.end(t)
}

// A gate over a socket this process did not create (Wrap), fenced while it
// rejects, goes to a new process only if that one can lift the fence: a
// new process without CAP_NET_RAW cannot, and may not replace a socket it
// does not own, so it would reject for good. Root shows it with a taker
// that runs as root without capabilities.
func TestAFencedWrappedGateGoesOnlyWhereItCanResume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to fence a socket it did not create and to start a taker without capabilities")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv to drop the taker's capabilities")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	g := acceptgate.Wrap(ln)
	defer g.Close()
	stop := serveLines(g, "old")
	defer stop()
	require.NoError(t, g.Reject())
	if g.Stats().Queued < 0 {
		t.Skip("the socket stopped rather than fenced (no interface for a fence here)")
	}
	path, served := offer(t, map[string]*acceptgate.Listener{"rej": g})
	p := startTakerAs(t, []string{setpriv, "--inh-caps=-all", "--bounding-set=-all"}, path)
	said := p.line(t)
	if strings.HasPrefix(said, "take:") || strings.HasPrefix(said, "commit:") {
		// Refused: the old process serves on, and can resume.
		eventually(t, func() bool { return g.Resume() == nil }, "the old gate to roll back and resume")
		assertServedBy(t, "old", "tcp", g.Addr().String())
		return
	}
	require.NoError(t, served())
	fmt.Fprintf(p.stdin, "resume rej\n")
	assert.Equal(t, "resume: <nil>", p.line(t), "the new process can resume what it took")
}
