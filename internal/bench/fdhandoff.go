package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// FDHandoffConfig shapes a run that moves a listening socket from process
// to process by passing it (package handoff).
type FDHandoffConfig struct {
	Clients  int           // concurrent client loops; default 4
	Conns    int           // connections in all; default 10000
	Handoffs int           // times the socket moves to a new process; default 20
	Timeout  time.Duration // per connection, and per step of a handoff; default 5s
	Address  string        // loopback address; default "127.0.0.1:0"
	// Net, if not nil, runs the clients across it: the first generation
	// serves a socket made where Net's server lives, passed as descriptor 3
	// (address "fd:3").
	Net Net
	// Command returns the command that runs ServeGeneration(path, take,
	// address) in a new process, writing to its stdout; FDHandoff starts
	// it. A generation whose stdin closes ends.
	Command  func(path string, take bool, address string) *exec.Cmd
	Progress func(done int)
}

// FDHandoffResult counts what the clients saw, and how long handoffs took.
type FDHandoffResult struct {
	HandoffResult
	// From the new process's connect to the offer until the old one
	// confirmed it let go: the time the socket was paused.
	HandoffP50 time.Duration `json:"handoff_p50_ns"`
	HandoffP99 time.Duration `json:"handoff_p99_ns"`
	// Connect to first byte of the answer, p99, for connections begun
	// during a handoff and for the others.
	FirstByteP99During  time.Duration `json:"first_byte_p99_during_ns"`
	FirstByteP99Outside time.Duration `json:"first_byte_p99_outside_ns"`
	During              int           `json:"conns_during"` // connections begun during a handoff
}

// FDHandoff runs a one-line echo server in one process after another, each
// taking the listening socket from the last with package handoff, while
// client loops connect, send a line and read the answer. Every
// Conns/Handoffs connections, a new generation takes over and the old one
// leaves. Only loopback is dialled; the run is bounded by Conns and each
// step by Timeout.
func FDHandoff(ctx context.Context, cfg FDHandoffConfig) (FDHandoffResult, error) {
	cfg.defaults()
	if cfg.Command == nil {
		return FDHandoffResult{}, fmt.Errorf("bench: FDHandoff needs a Command to start server generations")
	}
	dir, err := os.MkdirTemp("", "acceptgate-handoff-")
	if err != nil {
		return FDHandoffResult{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "offer.sock")

	var live []*generation
	defer func() {
		for _, g := range live {
			g.stop()
			g.wait()
		}
	}()
	var inherited *os.File
	address := cfg.Address
	if cfg.Net != nil {
		if inherited, err = serverSocket(cfg.Net); err != nil {
			return FDHandoffResult{}, err
		}
		defer inherited.Close()
		address = "fd:3"
	}
	first, err := startGeneration(cfg, path, false, address, inherited)
	if err != nil {
		return FDHandoffResult{}, err
	}
	live = append(live, first)
	addr, err := first.expect("offering", cfg.Timeout)
	if err != nil {
		return FDHandoffResult{}, err
	}

	type sample struct {
		began time.Time
		first time.Duration
	}
	var res FDHandoffResult
	var samples []sample
	load := startHandoffLoad(ctx, cfg.Clients, cfg.Conns, cfg.Timeout, cfg.Net, addr, cfg.Progress,
		func(began time.Time, a attempt) {
			res.count(a.outcome)
			if a.outcome == served {
				samples = append(samples, sample{began, a.first})
			}
		})

	type window struct{ from, to time.Time }
	var windows []window
	var took []time.Duration
	step := cfg.Conns / (cfg.Handoffs + 1)
	var driveErr error
	for turn := 0; turn < cfg.Handoffs && driveErr == nil; turn++ {
		load.reach(ctx, (turn+1)*step)
		var w window
		w, driveErr = func() (window, error) {
			g, err := startGeneration(cfg, path, true, "", nil)
			if err != nil {
				return window{}, err
			}
			live = append(live, g)
			var from, to int64
			line, err := g.expect("took", cfg.Timeout)
			if err == nil {
				_, err = fmt.Sscanf(line, "%d %d", &from, &to)
			}
			if err == nil {
				_, err = g.expect("offering", cfg.Timeout)
			}
			if err != nil {
				return window{}, err
			}
			old := live[0]
			old.stop()
			if err := old.wait(); err != nil {
				return window{}, fmt.Errorf("the generation that left: %w", err)
			}
			live = live[1:]
			return window{time.Unix(0, from), time.Unix(0, to)}, nil
		}()
		if driveErr == nil {
			windows = append(windows, w)
			took = append(took, w.to.Sub(w.from))
			res.Handoffs++
		}
	}
	load.wait()

	res.HandoffP50, res.HandoffP99 = percentile(took, 0.50), percentile(took, 0.99)
	var during, outside []time.Duration
	for _, s := range samples {
		in := false
		for _, w := range windows {
			if !s.began.Before(w.from) && s.began.Before(w.to) {
				in = true
				break
			}
		}
		if in {
			during = append(during, s.first)
		} else {
			outside = append(outside, s.first)
		}
	}
	res.During = len(during)
	res.FirstByteP99During, res.FirstByteP99Outside = percentile(during, 0.99), percentile(outside, 0.99)
	if driveErr != nil {
		return res, fmt.Errorf("handoff %d: %w", res.Handoffs+1, driveErr)
	}
	return res, nil
}

// serverSocket makes a listening socket where n's server lives.
func serverSocket(n Net) (*os.File, error) {
	var f *os.File
	err := n.Server(func() error {
		ln, err := net.Listen("tcp", net.JoinHostPort(n.Addr(), "0"))
		if err != nil {
			return err
		}
		defer ln.Close()
		f, err = ln.(*net.TCPListener).File()
		return err
	})
	return f, err
}

func startGeneration(cfg FDHandoffConfig, path string, take bool, address string, inherited *os.File) (*generation, error) {
	cmd := cfg.Command(path, take, address)
	if inherited != nil {
		cmd.ExtraFiles = []*os.File{inherited} // descriptor 3
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var once sync.Once
	var waitErr error
	return &generation{
		lines: bufio.NewScanner(stdout),
		stop:  func() { stdin.Close() },
		wait: func() error {
			once.Do(func() {
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case waitErr = <-done:
				case <-time.After(cfg.Timeout):
					cmd.Process.Kill()
					waitErr = fmt.Errorf("server generation did not end within %v; killed (%v)", cfg.Timeout, <-done)
				}
			})
			return waitErr
		},
	}, nil
}

func (cfg *FDHandoffConfig) defaults() {
	runDefaults(&cfg.Clients, &cfg.Conns, &cfg.Handoffs, &cfg.Timeout)
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
}
