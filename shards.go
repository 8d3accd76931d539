package acceptgate

import (
	"sync/atomic"
	"unsafe"
)

// The counters every Accept writes, the goroutines inside the wrapped
// Accept and the connections returned, are spread over shards, each on a
// cache line of its own, so that accept loops on different cores that
// share one gate do not take turns owning one line. A goroutine picks its
// shard by where its stack is, which differs from one goroutine to the
// next and costs no atomic; a sum over the shards gives each total.
//
// The mode word is read by every Accept and written only by transitions:
// it sits on a line of its own too (Listener's padding), so that no
// counter's write takes that line away from the readers.

// acceptShards is how many shards there are: a power of two, enough for a
// few accept loops a core on common machines.
const acceptShards = 16

// cacheLine is the padding unit: two 64-byte lines, since x86's adjacent
// line prefetcher fetches lines in pairs.
const cacheLine = 128

type acceptShard struct {
	inflight atomic.Int32  // goroutines inside the wrapped listener's Accept
	accepted atomic.Uint64 // connections returned by Accept
	_        [cacheLine - 16]byte
}

type acceptCounters [acceptShards]acceptShard

// mine returns the calling goroutine's shard.
func (c *acceptCounters) mine() *acceptShard { return &c[myShard()] }

// myShard returns the index of the calling goroutine's shard, from where
// its stack is. Stacks are at least 2 KiB apart; Fibonacci hashing of the
// address's bits above that spreads nearby stacks over the shards.
func myShard() uint32 {
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))>>11) * 0x9e3779b97f4a7c15
	return uint32(h >> (64 - 4)) // acceptShards is 1<<4
}

// inflight returns how many goroutines are inside the wrapped Accept. Each
// shard is read once: a goroutine that enters while the sum is taken may be
// missed, which is why one that enters checks the mode after counting
// itself (acceptFrom).
func (c *acceptCounters) inflight() int32 {
	var n int32
	for i := range c {
		n += c[i].inflight.Load()
	}
	return n
}

// accepted returns how many connections Accept has returned.
func (c *acceptCounters) accepted() uint64 {
	var n uint64
	for i := range c {
		n += c[i].accepted.Load()
	}
	return n
}
