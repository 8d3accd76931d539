//go:build unix

package upgrade

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Options.Executable is what Upgrade starts, looked up when it runs: a
// deploy that switches a symbolic link to a new build (releases/current)
// is followed, where os.Executable still names the file this process was
// started from. Here the new build is a script that says it ran and exits
// 5; this process's own file, in mode exit, would exit 3.
func TestUpgradeStartsTheExecutableALinkLeadsToNow(t *testing.T) {
	dir := shortDir(t)
	ran := filepath.Join(dir, "ran")
	newBuild := filepath.Join(dir, "v2")
	require.NoError(t, os.WriteFile(newBuild, []byte("#!/bin/sh\necho \"$@\" > "+ran+"\nexit 5\n"), 0o755))
	current := filepath.Join(dir, "current")
	require.NoError(t, os.Symlink(os.Args[0], current)) // the build this process runs
	g := startGeneration(t, "exit", Options{Executable: current})
	require.NoError(t, g.u.Ready())

	require.NoError(t, os.Remove(current))
	require.NoError(t, os.Symlink(newBuild, current)) // the deploy
	err := g.u.Upgrade()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 5, exit.ExitCode(), "the build the link leads to now ran: %v", err)
	assert.FileExists(t, ran)
	g.servesHere(t)
}
