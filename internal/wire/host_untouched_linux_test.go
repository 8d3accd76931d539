package wire

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerSysctlStaysInside writes a sysctl of the server's namespace
// (as the lab's handoff does with tcp_migrate_req): the host's value does
// not change.
func TestServerSysctlStaysInside(t *testing.T) {
	const path = "/proc/sys/net/ipv4/tcp_migrate_req"
	host, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	if strings.TrimSpace(string(host)) != "0" {
		t.Skipf("host's %s is %s; this test writes 1 inside", path, host)
	}
	w := build(t, Config{})
	defer w.Close()
	t.Cleanup(func() {
		if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "0" {
			os.WriteFile(path, host, 0)
		}
	})
	var inside []byte
	if err := w.Server(func() error {
		if err := os.WriteFile(path, []byte("1"), 0); err != nil {
			return err
		}
		inside, err = os.ReadFile(path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(host) || strings.TrimSpace(string(inside)) != "1" {
		t.Errorf("host's %s went from %q to %q; inside it reads %q", path, host, after, inside)
	}
}

// TestWireChild is the process TestKilledLeavesNothing kills: it builds a
// wire, carries a connection, says which namespaces it made and waits.
func TestWireChild(t *testing.T) {
	if os.Getenv("WIRE_TEST_CHILD") != "1" {
		t.Skip("the child of TestKilledLeavesNothing")
	}
	w := build(t, Config{Delay: time.Millisecond, Spare: true})
	ln, err := w.Listen(context.Background(), "tcp4", ServerIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := echo(ln)
	roundTrip(t, w, ln.Addr().String())
	c, err := w.Dial(context.Background(), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Printf("namespaces %d %d\n", inode(t, w.client.ns), inode(t, w.server.ns))
	io.Copy(io.Discard, os.Stdin) // until killed
	ln.Close()
	<-done
}

func hostLinks(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// netnsHolders lists the threads on this machine in namespace ino.
func netnsHolders(ino uint64) []string {
	target := fmt.Sprintf("net:[%d]", ino)
	paths, _ := filepath.Glob("/proc/[0-9]*/task/*/ns/net")
	var held []string
	for _, p := range paths {
		if l, err := os.Readlink(p); err == nil && l == target {
			held = append(held, p)
		}
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, p := range fds {
		if l, err := os.Readlink(p); err == nil && l == target {
			held = append(held, p)
		}
	}
	return held
}

// TestKilledLeavesNothing starts a process that builds a wire and kills it
// with SIGKILL mid-run: no process refers to its namespaces any more, no
// file under /run/netns names them, and the host's interfaces are those it
// had before.
func TestKilledLeavesNothing(t *testing.T) {
	if w, err := New(Config{}); CannotBuild(err) {
		t.Skipf("cannot build a wire here (needs root and /dev/net/tun): %v", err)
	} else if err == nil {
		w.Close()
	}
	links := hostLinks(t)
	netnsDir, _ := os.ReadDir("/run/netns")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWireChild$", "-test.v")
	cmd.Env = append(os.Environ(), "WIRE_TEST_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var nss []uint64
	lines := bufio.NewScanner(out)
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 3 && f[0] == "namespaces" {
			for _, s := range f[1:] {
				n, _ := strconv.ParseUint(s, 10, 64)
				nss = append(nss, n)
			}
			break
		}
	}
	if len(nss) != 2 {
		t.Fatalf("the child said no namespaces: %v", lines.Err())
	}
	for _, ino := range nss {
		if len(netnsHolders(ino)) == 0 {
			t.Fatalf("net:[%d] is held by no process while the child runs", ino)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	killed = true
	io.Copy(io.Discard, out) // to EOF: the pipe closes with the process
	cmd.Wait()
	for _, ino := range nss {
		if held := netnsHolders(ino); len(held) > 0 {
			t.Errorf("net:[%d] still held after SIGKILL by %v", ino, held)
		}
	}
	if after := hostLinks(t); !slices.Equal(after, links) {
		t.Errorf("host interfaces were %v, are %v", links, after)
	}
	if after, _ := os.ReadDir("/run/netns"); len(after) != len(netnsDir) {
		t.Errorf("/run/netns had %d entries, has %d", len(netnsDir), len(after))
	}
}
