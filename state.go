package acceptgate

import "fmt"

// State is the state of a Listener.
type State int32

// The states of a Listener. The zero value is Accepting.
const (
	Accepting State = iota // Accept hands out connections.
	Paused                 // Accept blocks; clients wait in the kernel's accept queue.
	Rejecting              // New clients are refused; Accept delivers what the kernel had admitted, then blocks.
	Closed                 // The listener is closed for good.
)

// String returns the state's name in lower case, such as "paused".
func (s State) String() string {
	switch s {
	case Accepting:
		return "accepting"
	case Paused:
		return "paused"
	case Rejecting:
		return "rejecting"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Flags or-ed into the mode word. They keep the Accept hot path to one
// comparison: any mode other than plain Accepting goes the slow way.
const (
	// pendingFlag: connections taken out of the kernel by a transition wait
	// to be delivered.
	pendingFlag = 1 << 8
	// deliverFlag: rejecting, and Accept still takes from the socket the
	// clients the kernel admitted before it began refusing.
	deliverFlag = 1 << 9
	// heldFlag: a transition or a handoff holds the socket, and Accept
	// takes nothing from it, in whatever state the Listener still reads.
	heldFlag = 1 << 10

	rejectingDelivering = int32(Rejecting) | deliverFlag
	stateMask           = 0xff
)

// socketOpen reports whether Accept may take connections from the socket in
// mode m.
func socketOpen(m int32) bool { return m == int32(Accepting) || m == rejectingDelivering }
