package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// patience bounds every wait for a server: to serve, to hand over, to exit.
const patience = 30 * time.Second

// run measures every server in turn, one after the other so that they do
// not share the two cores; progress goes to logw.
func run(c config, logw io.Writer) ([]result, error) {
	if _, err := exec.LookPath("hey"); err != nil {
		return nil, fmt.Errorf("hey is needed (Debian package hey): %w", err)
	}
	// Generations orphaned by their parent's exit come to this process,
	// which finds the next one among them and reaps them all.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	scratch, err := os.MkdirTemp("", "compare")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	bin := c.bin
	if bin == "" {
		bin = filepath.Join(scratch, "bin")
		fmt.Fprintln(logw, "building the servers")
		if err := build(bin); err != nil {
			return nil, err
		}
	}
	var results []result
	for _, s := range servers {
		fmt.Fprintf(logw, "%s: %v of hey, %d upgrades\n", s.name, c.duration, c.upgrades)
		r, err := measure(c, s, filepath.Join(bin, s.bin), scratch, logw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

// measure runs server s from path under hey, upgrading it c.upgrades times.
func measure(c config, s server, path, scratch string, logw io.Writer) (result, error) {
	r := result{server: s.name}
	dir, err := os.MkdirTemp(scratch, s.bin)
	if err != nil {
		return r, err
	}
	addr, err := freeAddr()
	if err != nil {
		return r, err
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return r, err
	}
	defer logFile.Close()
	cmd := exec.Command(path, s.args(addr, dir)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	cmd.Process.Release() // reaped by reap, as its successors are
	pids := []int{pid}
	defer func() { // whatever went wrong, no server outlives the run
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
			reap(p, time.Second)
		}
	}()
	url := "http://" + addr + "/"
	if err := awaitServing(url); err != nil {
		return r, fmt.Errorf("%w\n%s", err, tail(logFile.Name()))
	}

	var heyOut bytes.Buffer
	hey := exec.Command("hey", "-z", c.duration.String(), "-c", strconv.Itoa(c.concurrency), "-disable-keepalive", url)
	hey.Stdout, hey.Stderr = &heyOut, &heyOut
	if err := hey.Start(); err != nil {
		return r, err
	}
	start := time.Now()
	for i := 1; i <= c.upgrades; i++ {
		time.Sleep(time.Until(start.Add(c.duration * time.Duration(i) / time.Duration(c.upgrades+1))))
		next, err := upgrade(pids[len(pids)-1], append(slices.Clone(pids), hey.Process.Pid))
		if err == nil {
			err = servedBy(url, next)
		}
		if err != nil {
			fmt.Fprintf(logw, "%s: upgrade %d: %v\n", s.name, i, err)
			continue
		}
		pids = append(pids, next)
		r.upgrades++
	}
	if err := hey.Wait(); err != nil {
		return r, fmt.Errorf("hey: %w\n%s", err, heyOut.Bytes())
	}
	last := pids[len(pids)-1]
	if err := unix.Kill(last, unix.SIGTERM); err != nil {
		return r, err
	}
	if err := reap(last, patience); err != nil {
		return r, err
	}
	pids = pids[:0]
	r.pids = r.upgrades + 1
	return r, parseHey(heyOut.String(), &r)
}

// upgrade sends SIGHUP to pid and returns the process that took over from
// it: once pid exited, the one orphan of it (adopted here) not in known.
func upgrade(pid int, known []int) (int, error) {
	if err := unix.Kill(pid, unix.SIGHUP); err != nil {
		return 0, err
	}
	if err := reap(pid, patience); err != nil {
		return 0, err
	}
	kids, err := children()
	if err != nil {
		return 0, err
	}
	kids = slices.DeleteFunc(kids, func(k int) bool { return slices.Contains(known, k) })
	if len(kids) != 1 {
		return 0, fmt.Errorf("pid %d exited leaving %d new processes (%v), not one", pid, len(kids), kids)
	}
	return kids[0], nil
}

// servedBy checks that url is answered by pid, where the answer says its
// pid (acceptgate serve's does not).
func servedBy(url string, pid int) error {
	client := &http.Client{Timeout: patience, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if m := pidRE.FindSubmatch(body); m != nil && string(m[1]) != strconv.Itoa(pid) {
		return fmt.Errorf("pid %d took over, but pid %s answers", pid, m[1])
	}
	return nil
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// children returns the processes whose parent is this one.
func children() ([]int, error) {
	self := strconv.Itoa(os.Getpid())
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if f := strings.Fields(string(stat[i+1:])); i > 0 && len(f) > 1 && f[1] == self {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

// reap waits up to d for pid, a child of this process or an orphan it
// adopted, to exit.
func reap(pid int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("waiting for pid %d: %w", pid, err)
		case got == pid:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("pid %d did not exit within %v", pid, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitServing waits until url answers 200.
func awaitServing(url string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(patience)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer 200 after %v: %w", url, patience, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeAddr returns a loopback address no socket is bound to now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tail returns the end of the file at path, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
