//go:build unix

package upgrade

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/handoff"
	"github.com/acceptgate/acceptgate/internal/faults"
)

// connEnv names the descriptor on which a next generation finds its end
// of the exchange: a SOCK_SEQPACKET socketpair, so that there is no path
// to pick, none left behind, and no other process can reach it.
const connEnv = "ACCEPTGATE_UPGRADE_FD"

// childFD is where the child finds it: the first of cmd.ExtraFiles.
const childFD = 3

// takeFromParent takes the sockets from the generation that started this
// one, if one did; it returns nil and no error otherwise.
func takeFromParent(opts Options) (*handoff.Takeover, error) {
	v, ok := os.LookupEnv(connEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(connEnv) // for this process only; its children are not next generations
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("upgrade: %s=%q: not a descriptor", connEnv, v)
	}
	f := os.NewFile(uintptr(fd), "upgrade")
	if f == nil {
		return nil, fmt.Errorf("upgrade: %s=%d: not a descriptor", connEnv, fd)
	}
	// FileConn's copy is close-on-exec; closing the inherited one keeps
	// it out of every process this one starts.
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade: the previous generation's connection: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("upgrade: %s=%d is a %T, not a unix socket", connEnv, fd, c)
	}
	tk, err := handoff.TakeConn(context.Background(), uc, handoffOptions(opts)...)
	if err != nil {
		return nil, fmt.Errorf("upgrade: taking the sockets over; the previous generation serves on: %w", err)
	}
	return tk, nil
}

// startNext starts the next generation and hands it gates. It returns the
// next generation's process id once it took them over; on error the gates
// serve here as before and the next generation is gone.
func startNext(ctx context.Context, gates map[string]*acceptgate.Listener, opts Options) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.UpgradeTimeout)
	defer cancel()
	here, there, err := socketpair()
	if err != nil {
		return 0, fmt.Errorf("upgrade: %w", err)
	}
	defer here.Close()
	cmd, err := command(opts.Executable, there)
	there.Close() // the child's copy, or nobody's: its exit must reach here as an end of file
	if err != nil {
		return 0, fmt.Errorf("upgrade: starting the next generation: %w", err)
	}
	pid := cmd.Process.Pid
	opts.Logger.Info("upgrade: started the next generation", "pid", pid)
	// A child that exits closes its end: the exchange sees the end of the
	// file, so no goroutine waits for the child meanwhile.
	err = handoff.Hand(ctx, here, gates, handoff.WithTimeout(opts.UpgradeTimeout), handoff.WithLogger(opts.Logger))
	if err == nil {
		cmd.Process.Release() // it lives on, as this generation's successor
		return pid, nil
	}
	cmd.Process.Kill() // it may be alive and holding nothing, or hung
	werr := cmd.Wait()
	switch {
	// A Stop cancels ctx, which ends the exchange with a deadline in the
	// past: it is told first.
	case errors.Is(ctx.Err(), context.Canceled):
		return 0, fmt.Errorf("upgrade: stopped; the next generation (pid %d) was killed: %w", pid, errors.Join(ErrStopped, err))
	// The exchange's own bound is the same UpgradeTimeout, and its read
	// deadline may pass a moment before ctx's timer fires: either is the
	// timeout.
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return 0, fmt.Errorf("upgrade: the next generation (pid %d) did not take over within %v, killed: %w", pid, opts.UpgradeTimeout, errors.Join(context.DeadlineExceeded, err))
	case errors.Is(err, handoff.ErrRefused):
		return 0, fmt.Errorf("upgrade: the next generation (pid %d) refused the sockets: %w", pid, errors.Join(err, werr))
	}
	return 0, fmt.Errorf("upgrade: the next generation (pid %d) ended before it took over: %w", pid, errors.Join(werr, err))
}

// command starts exe (this program, os.Executable, if empty) with the
// exchange's other end at childFD.
func command(exe string, there *os.File) (*exec.Cmd, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := &exec.Cmd{
		Path:       exe,
		Args:       append([]string(nil), os.Args...),
		Env:        childEnv(os.Environ()),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{there},
	}
	// Go opens everything close-on-exec, but a descriptor this process
	// inherited without the flag (from a shell, or cgo) would be passed on
	// to every generation after it.
	if err := closeOnExecAll(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// childEnv is this process's environment for the next generation: its
// end of the exchange said, and systemd's socket variables, meant for the
// first generation, left out.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case connEnv, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		out = append(out, kv)
	}
	return append(out, connEnv+"="+strconv.Itoa(childFD))
}

// socketpair returns this side's end of a new exchange and the child's,
// both close-on-exec (the child's is passed as an ExtraFile, which os/exec
// clears the flag on in the child alone).
//
// macOS has no SOCK_SEQPACKET unix sockets (EPROTONOSUPPORT): the error
// then wraps errors.ErrUnsupported, as on systems without unix sockets,
// so that a caller can tell a platform that cannot upgrade from a
// failure.
func socketpair() (*net.UnixConn, *os.File, error) {
	fds, err := seqpacketPair()
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, nil, fmt.Errorf("%w: unix sockets here have no SOCK_SEQPACKET: %w", errors.ErrUnsupported, os.NewSyscallError("socketpair", err))
	}
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	f := os.NewFile(uintptr(fds[0]), "upgrade")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "upgrade-child"), nil
}

func seqpacketPair() ([2]int, error) {
	if err := faults.Check(faults.Socketpair); err != nil {
		return [2]int{-1, -1}, err
	}
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
}
