package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/control"
)

// Patience bounds every wait of the package: for a process to start, say
// something or exit, for a balancer to see a change.
const Patience = 20 * time.Second

// BuildServe builds cmd/acceptgate into dir and returns the binary's path.
// It needs the repository's go.work, so it runs from a checkout.
func BuildServe(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "acceptgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/acceptgate/acceptgate/cmd/acceptgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fleet: go build cmd/acceptgate: %w\n%s", err, out)
	}
	return bin, nil
}

// Instance is a serve process this package started.
type Instance struct {
	cmd        *exec.Cmd
	exited     chan error // its Wait's result, put back by whoever reads it
	stdout     *os.File
	URL        string // of the served port, as serve printed it
	Admin      string // host:port of the admin API
	Agent      string // host:port of the agent check, if serve printed one
	stderrPath string
}

// StartServe runs bin serve with args, its stderr in a file in dir, and
// waits until it offers its sockets for an upgrade: then it serves.
func StartServe(bin, dir string, args ...string) (*Instance, error) {
	in := &Instance{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), exited: make(chan error, 1)}
	// A file, not a pipe: a new generation started by SIGHUP inherits it,
	// and Wait would wait for that one to close a pipe too.
	stderr, err := os.CreateTemp(dir, "serve-*.stderr")
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	in.cmd.Stderr = stderr
	in.stderrPath = stderr.Name()
	// A pipe of our own rather than StdoutPipe: Wait closes that one's
	// reading end when the instance exits, and a generation it started on
	// SIGHUP, which writes to the same pipe, would then die of SIGPIPE.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	in.cmd.Stdout = w
	err = in.cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	in.stdout = stdout
	go func() { in.exited <- in.cmd.Wait() }()
	offered := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		ok := false
		for lines.Scan() {
			if rest, found := strings.CutPrefix(lines.Text(), "acceptgate: serving "); found {
				in.URL = strings.Fields(rest)[0]
			}
			if rest, found := strings.CutPrefix(lines.Text(), "acceptgate: agent check on "); found {
				in.Agent = rest
			}
			if rest, found := strings.CutPrefix(lines.Text(), "acceptgate: admin API on "); found {
				in.Admin = strings.TrimPrefix(rest, "http://")
			}
			if strings.HasPrefix(lines.Text(), "upgrade: ") {
				ok = true
				break
			}
		}
		offered <- ok
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-offered:
		if ok {
			return in, nil
		}
		in.Kill()
		return nil, fmt.Errorf("fleet: serve %v ended before it served; it said:\n%s", args, in.Said())
	case <-time.After(Patience):
		in.Kill()
		return nil, fmt.Errorf("fleet: serve %v did not serve within %v; it said:\n%s", args, Patience, in.Said())
	}
}

// Said is what the instance, and the generations it started, wrote to
// stderr.
func (in *Instance) Said() string {
	b, _ := os.ReadFile(in.stderrPath)
	return string(b)
}

// Wait waits, at most Patience, for the instance to exit, and says how.
func (in *Instance) Wait() error {
	select {
	case err := <-in.exited:
		in.exited <- err
		if err != nil {
			return fmt.Errorf("fleet: serve exited: %w; it said:\n%s", err, in.Said())
		}
		return nil
	case <-time.After(Patience):
		return fmt.Errorf("fleet: serve (pid %d) did not exit within %v", in.cmd.Process.Pid, Patience)
	}
}

// Kill ends the instance at once, if it has not ended, and waits for it.
func (in *Instance) Kill() {
	in.cmd.Process.Kill()
	err := <-in.exited
	in.exited <- err
	in.stdout.Close()
}

// Server is one member of a balancer's pool, as its configuration names it.
type Server struct {
	Name  string
	Addr  string // host:port of the served port
	Admin string // port of the admin API, where /readyz is
	Agent string // port of the agent check, if any
}

// Member is one serve of the fleet: its addresses stay, the process
// serving them changes with each upgrade and restart.
type Member struct {
	Server
	AdminAddr string // host:port of the admin API
	AgentAddr string // host:port of the agent check, if any
	PID       int    // the process serving now

	fleet *Fleet
	first *Instance // the process the fleet started, until it exits
}

// Fleet is n serve instances on loopback ports of their own.
type Fleet struct {
	Bin     string
	Members []*Member
	dir     string
	args    []string
	started []*Instance // every instance started, for Close
	adopted []int       // processes started by an upgrade, for Close
}

// StartFleet starts n instances of bin serve, each on a port and admin
// port of its own on 127.0.0.1, with --grace 5s and args (such as
// --agent 127.0.0.1:0); dir holds what they write to stderr.
func StartFleet(bin, dir string, n int, args ...string) (*Fleet, error) {
	f := &Fleet{Bin: bin, dir: dir, args: args}
	for i := 1; i <= n; i++ {
		in, err := f.start(append([]string{"--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...))
		if err != nil {
			f.Close()
			return nil, err
		}
		u, err := url.Parse(in.URL)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: serve printed %q: %w", in.URL, err)
		}
		_, adminPort, err := net.SplitHostPort(in.Admin)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: serve printed its admin API at %q: %w", in.Admin, err)
		}
		m := &Member{Server: Server{Name: fmt.Sprintf("s%d", i), Addr: u.Host, Admin: adminPort},
			AdminAddr: in.Admin, PID: in.cmd.Process.Pid, fleet: f, first: in}
		if in.Agent != "" {
			m.AgentAddr = in.Agent
			if _, m.Agent, err = net.SplitHostPort(in.Agent); err != nil {
				f.Close()
				return nil, fmt.Errorf("fleet: serve printed its agent at %q: %w", in.Agent, err)
			}
		}
		f.Members = append(f.Members, m)
	}
	return f, nil
}

func (f *Fleet) start(args []string) (*Instance, error) {
	in, err := StartServe(f.Bin, f.dir, append(args, "--grace", "5s")...)
	if err == nil {
		f.started = append(f.started, in)
	}
	return in, err
}

// Servers is the fleet as a balancer's configuration names it.
func (f *Fleet) Servers() []Server {
	var s []Server
	for _, m := range f.Members {
		s = append(s, m.Server)
	}
	return s
}

// Close stops every process of the fleet: those it started are killed,
// those an upgrade started get SIGINT, then SIGKILL after Patience. A
// second Close does nothing.
func (f *Fleet) Close() {
	defer func() { f.started, f.adopted = nil, nil }()
	for _, in := range f.started {
		in.Kill()
	}
	for _, pid := range f.adopted {
		// One upgraded again has exited; its number may be another's now.
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGINT)
		}
	}
	deadline := time.Now().Add(Patience)
	for _, pid := range f.adopted {
		for !gone(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Ctl runs acceptgate ctl against the member's admin API.
func (m *Member) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*Patience)
	defer cancel()
	out, err := exec.CommandContext(ctx, m.fleet.Bin, append([]string{"ctl", "--admin", m.AdminAddr}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("fleet: %s: ctl %v: %w: %s", m.Name, args, err, out)
	}
	return string(out), nil
}

// ServingPID asks the member's admin API which process serves it.
func (m *Member) ServingPID() (int, error) {
	c, err := control.NewClient(m.AdminAddr, "")
	if err != nil {
		return 0, err
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	vs, err := c.List(ctx)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, errors.New("fleet: the admin API lists no gate")
	}
	return vs[0].PID, nil
}

// Upgrade upgrades the member in place: SIGHUP, then it waits until a new
// process serves and the old one has exited (with status 0, if the fleet
// started it).
func (m *Member) Upgrade() error {
	old := m.PID
	if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
		return fmt.Errorf("fleet: %s: SIGHUP: %w", m.Name, err)
	}
	deadline := time.Now().Add(Patience)
	for {
		pid, err := m.ServingPID()
		if err == nil && pid != old {
			m.PID = pid
			m.fleet.adopted = append(m.fleet.adopted, pid)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: %s: no new generation serves %v after SIGHUP (last: %d, %v)", m.Name, Patience, pid, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return m.waitExit(old)
}

// waitExit waits for process old, which served the member, to exit.
func (m *Member) waitExit(old int) error {
	if m.first != nil && m.first.cmd.Process.Pid == old {
		err := m.first.Wait()
		m.first = nil
		return err
	}
	deadline := time.Now().Add(Patience)
	for !gone(old) {
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: %s: process %d did not exit within %v", m.Name, old, Patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// Drain asks the member to drain (ctl drain --grace): its /readyz fails at
// once, its gate accepts for grace, then rejects.
func (m *Member) Drain(grace time.Duration) error {
	_, err := m.Ctl("drain", "--grace", grace.String())
	return err
}

// Stop waits for the member's drain (of grace) to be done, then sends
// SIGTERM and waits for the process to exit.
func (m *Member) Stop(grace time.Duration) error {
	if _, err := m.Ctl("drain", "--grace", grace.String(), "--wait", "30s"); err != nil {
		return err
	}
	old := m.PID
	if err := syscall.Kill(old, syscall.SIGTERM); err != nil {
		return fmt.Errorf("fleet: %s: SIGTERM: %w", m.Name, err)
	}
	return m.waitExit(old)
}

// Restart starts a new process on the member's ports, with the fleet's
// arguments, once the last one has exited.
func (m *Member) Restart() error {
	args := []string{"--addr", m.Addr, "--admin", m.AdminAddr}
	if m.AgentAddr != "" {
		args = append(args, "--agent", m.AgentAddr)
	}
	for i := 0; i < len(m.fleet.args); i++ {
		if m.fleet.args[i] == "--agent" {
			i++ // the member's own, above
			continue
		}
		args = append(args, m.fleet.args[i])
	}
	in, err := m.fleet.start(args)
	if err != nil {
		return err
	}
	m.first, m.PID = in, in.cmd.Process.Pid
	return nil
}

// gone tells whether process pid has exited (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}
