// Package handover is the bridge between the gate and package handoff: what
// a gate's socket is, in the terms another process needs to take it over,
// and the gate's side of a handoff (Gate). Package acceptgate sets Of and
// Adopt when it is initialized, so that handoff can reach a gate's state
// without the gate exporting methods no one else should call; handoff
// imports acceptgate, so both are set before handoff runs.
package handover

import (
	"net"
	"os"
	"time"
)

// Socket describes one gate's socket as it is handed to another process.
// Files holds its descriptors in order: the listening socket, then, for a
// unix socket that rejects, the socket parked at its path.
type Socket struct {
	Network string `json:"network"` // tcp, tcp4, tcp6, unix or unixpacket
	Address string `json:"address"`
	State   string `json:"state"` // accepting, paused or rejecting
	// Own is set on a socket the gate created: its holder may close it and
	// bind a new one at its address.
	Own bool `json:"own"`

	// The options a new socket at the same address is made with.
	ReusePort   bool          `json:"reuse_port,omitempty"`
	ReuseAddr   bool          `json:"reuse_addr,omitempty"`
	Backlog     int           `json:"backlog,omitempty"`
	DeferAccept time.Duration `json:"defer_accept,omitempty"`
	FastOpen    int           `json:"fast_open,omitempty"`

	// Mode is the unix socket file's permission bits.
	Mode os.FileMode `json:"mode,omitempty"`

	// How a rejecting socket refuses: RejectFenced, RejectStopped or
	// RejectHidden; empty for one that does not.
	Reject string  `json:"reject,omitempty"`
	Hidden *Hidden `json:"hidden,omitempty"`
	Files  int     `json:"files"`
}

// The ways a rejecting socket refuses, as Socket.Reject names them.
const (
	RejectFenced  = "fenced"  // listening behind SO_BINDTODEVICE
	RejectStopped = "stopped" // not listening, holding its port
	RejectHidden  = "hidden"  // a unix socket whose path leads to a parked socket
)

// Hidden is where a rejecting unix socket keeps its file.
type Hidden struct {
	Dir  string `json:"dir"`
	Link string `json:"link"`
	Ino  uint64 `json:"ino"` // of the parked socket's file
}

// Gate is one gate's side of a handoff, as package acceptgate's *Listener
// provides it. From Prepare until Rollback or Release, and from Adopt until
// Settle or Release, the gate refuses Pause, Reject and Resume.
type Gate interface {
	// Prepare stops the gate taking connections from its socket (a strict
	// pause, or a rejecting gate that no longer delivers from its queue)
	// and returns the socket's description and duplicates of its
	// descriptors, in Socket order, which the caller owns and closes. They
	// are plain descriptors, not *os.File: a File of a non-blocking socket
	// is registered with the runtime's poller on creation and taken out on
	// Close, two kernel calls per gate that nothing here needs.
	Prepare() (Socket, []int, error)
	// Rollback undoes Prepare: the gate goes back to the state it had.
	Rollback()
	// Release lets the gate go of its socket without touching it (no
	// shutdown, no unlink): another process holds it now. The gate is
	// closed, but Accept still delivers the connections Reject had taken
	// out of the kernel; Drained reports when none is left.
	Release() error
	// Drained returns a channel closed once a released gate has delivered
	// its last connection, or was closed.
	Drained() <-chan struct{}
	// Activate puts an adopted gate in the state its socket was handed in.
	// Until Settle, Release still lets go of it untouched, whatever it did
	// since.
	Activate() error
	// Settle ends an adopted gate's handoff: it keeps its socket. A gate
	// Activate failed on stays as it came.
	Settle()
}

// Set by package acceptgate when it is initialized.
var (
	// Of returns gate's side of a handoff, and false if gate is not an
	// *acceptgate.Listener.
	Of func(gate net.Listener) (Gate, bool)
	// Adopt makes a gate for a socket another process prepared: wrap
	// makes it around the socket's listener (acceptgate.Wrap, with the
	// taker's options), and Adopt gives it the socket as Prepare left it,
	// held until Activate. Adopt owns files; if wrap's gate is not an
	// *acceptgate.Listener around the listener it was given, Adopt closes
	// it and fails.
	Adopt func(s Socket, files []*os.File, wrap func(net.Listener) net.Listener) (Gate, error)
)
