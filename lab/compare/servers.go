package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// server is one program under comparison: its binary's name in the bin
// directory, the package it is built from, and its arguments for an address
// and a scratch directory.
type server struct {
	name string
	bin  string
	pkg  string
	args func(addr, dir string) []string
}

var servers = []server{
	{name: "examples/upgrade", bin: "upgrade", pkg: "./examples/upgrade",
		args: func(addr, _ string) []string { return []string{"-addr", addr} }},
	{name: "acceptgate serve", bin: "acceptgate", pkg: "./cmd/acceptgate",
		args: func(addr, dir string) []string {
			return []string{"serve", "--addr", addr, "--admin", "", "--upgrade-socket", filepath.Join(dir, "upgrade.sock")}
		}},
	{name: "tableflip", bin: "tableflip", pkg: "./lab/compare/tableflip",
		args: func(addr, _ string) []string { return []string{"-addr", addr} }},
}

// build builds every server into dir from the workspace this program is
// in (go.work's directory).
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return fmt.Errorf("go env GOWORK: %w", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" || work == "off" {
		return fmt.Errorf("not in a workspace (go env GOWORK is %q): run from the repository, or give -bin", work)
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, s := range servers {
		args = append(args, s.pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Dir(work)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}
