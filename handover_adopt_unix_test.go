//go:build unix

package acceptgate_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/internal/handover"
)

// fileOf returns a duplicate of ln's descriptor, as an offer sends it.
func fileOf(t *testing.T, ln net.Listener) *os.File {
	t.Helper()
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	require.NoError(t, err)
	return f
}

// adoptRefused asserts that a rejecting socket described as hs is not
// taken over, and lets go of the gate if it was.
func adoptRefused(t *testing.T, hs handover.Socket, files []*os.File, what string) {
	t.Helper()
	g, err := adopt(t, hs, files)
	if err == nil {
		g.Close() // still handing over: lets go, touching nothing
	}
	assert.Error(t, err, "adopted %s", what)
}

// Only a TCP socket can be fenced: a listening unix socket described as a
// fenced one is not taken over, or the taker would report Rejecting while
// the path goes on admitting every client.
func TestAdoptRefusesAUnixSocketDescribedAsFenced(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	hs := handover.Socket{Network: "unix", Address: ln.Addr().String(), State: acceptgate.Rejecting.String(),
		Own: true, Reject: handover.RejectFenced, Files: 1}
	adoptRefused(t, hs, []*os.File{fileOf(t, ln)}, "a unix socket as fenced")
}

// Only a unix socket can be hidden: a TCP socket described as hidden is not
// taken over. Its address has no directory, so the place check in
// adoptHiding admits a private directory relative to the taker's working
// directory: taken over, the gate reports Rejecting while clients connect,
// Resume renames in that directory, and Close removes it with all it holds.
func TestAdoptRefusesATCPSocketDescribedAsHidden(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	parked, err := net.Listen("unix", filepath.Join(t.TempDir(), "p"))
	require.NoError(t, err)
	t.Cleanup(func() { parked.Close() })
	dir := ".ag-not-there"
	hs := handover.Socket{Network: "tcp4", Address: ln.Addr().String(), State: acceptgate.Rejecting.String(),
		Reject: handover.RejectHidden, Files: 2,
		Hidden: &handover.Hidden{Dir: dir, Link: filepath.Join(dir, "l")}}
	adoptRefused(t, hs, []*os.File{fileOf(t, ln), fileOf(t, parked)}, "a TCP socket as hidden")
}
