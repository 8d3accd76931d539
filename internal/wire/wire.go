// Package wire builds a link with a round trip between two network
// namespaces of this process, one for clients and one for a server, so that
// tests and experiments can measure what clients a network away see: the
// handshakes that loopback completes inside connect take a round trip here.
//
// Each namespace has lo and a TUN device; a goroutine per direction reads
// the packets one device sends and writes them into the other after the
// configured one-way delay, with optional jitter and loss, through a bounded
// queue. The client's device has 198.51.100.1/24, the server's
// 198.51.100.2/24 (TEST-NET-2, RFC 5737): no address outside the two
// namespaces is ever used, and nothing on the host changes.
//
// Building a wire needs CAP_SYS_ADMIN and CAP_NET_ADMIN (root) and
// /dev/net/tun on Linux; elsewhere New fails with an error wrapping
// errors.ErrUnsupported or os.ErrPermission, which tests take as a reason
// to skip.
//
// Nothing is bind-mounted or made persistent: a namespace lives as long as
// the descriptors and threads of this process that refer to it, so Close,
// or the process dying, frees both namespaces and their devices.
package wire

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The addresses of the two ends.
const (
	ClientIP = "198.51.100.1"
	ServerIP = "198.51.100.2"
)

// Config shapes a wire. The zero Config is a wire with no delay.
type Config struct {
	// Delay is each packet's one-way delay: a round trip takes 2 × Delay.
	Delay time.Duration
	// Jitter adds a delay drawn uniformly from [0, Jitter) to each packet.
	// Packets keep their order: one is never sent before the one read
	// before it.
	Jitter time.Duration
	// Loss is the share of packets dropped, in each direction, from 0 to 1.
	Loss float64
	// Queue bounds the packets in flight in each direction; a packet read
	// while it is full is dropped, as a router's full queue drops. Default
	// 4096, at most MaxQueue.
	Queue int
	// Spare adds a second interface to the server's namespace that stays
	// down, as a host's unused interface does. The gate's fence binds
	// sockets to such an interface; without one, Reject stops its socket
	// instead.
	Spare bool
	// Seed seeds the jitter and the losses; 0 picks one.
	Seed uint64
}

// MaxQueue is the longest Queue a Config may ask for: a second of packets
// at a few gigabits a second, far more than a test or experiment sends.
const MaxQueue = 1 << 20

// Stats counts what a wire carried.
type Stats struct {
	Packets  int64 // packets delivered, both directions
	Lost     int64 // dropped by Loss
	Overflow int64 // dropped because a queue was full
}

func (c Config) check() error {
	switch {
	case c.Delay < 0 || c.Jitter < 0:
		return fmt.Errorf("wire: negative delay or jitter (%v, %v)", c.Delay, c.Jitter)
	case c.Loss < 0 || c.Loss >= 1 || c.Loss != c.Loss:
		return fmt.Errorf("wire: loss %v: not in [0, 1)", c.Loss)
	case c.Queue < 0 || c.Queue > MaxQueue:
		return fmt.Errorf("wire: queue %d: not in [0, %d]", c.Queue, MaxQueue)
	}
	return nil
}

// ParseLoss reads a loss as a percentage ("1%", "0.5%") or a fraction
// ("0.01"), and fails on anything outside [0, 1).
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = rest, 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("loss %q: %w", s, err)
	}
	v /= scale
	if v < 0 || v >= 1 || v != v {
		return 0, fmt.Errorf("loss %q: not a share of packets below 100%%", s)
	}
	return v, nil
}

// CannotBuild reports whether err, from New, says this machine or user
// cannot build a wire at all (no privilege, no TUN, not Linux), as opposed
// to a wire that failed.
func CannotBuild(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported)
}
