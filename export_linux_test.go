package acceptgate

import "time"

// SettleTime is how long Reject waits, without a fence, for the handshakes
// under way to complete before it stops the socket anyway.
func SettleTime() time.Duration { return settleTime }
