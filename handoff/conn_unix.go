//go:build unix

package handoff

import (
	"context"
	"fmt"
	"net"

	"github.com/acceptgate/acceptgate"
)

// Hand runs one exchange on c, a connected unix socket of type
// SOCK_SEQPACKET (one end of a socketpair whose other end the next process
// inherited, say), offering gates by name as an Offer does. It returns nil
// once the gates are handed over: they are closed, their sockets belong to
// the process at the other end, and the connections a Reject had taken out
// of the kernel were delivered (within the timeout). On any other outcome
// the gates are as they were and serve on here, and the error says why; it
// wraps ErrRefused when the taker refused. Hand does not close c.
//
// Unlike an Offer, Hand needs no path: nothing is left behind in the file
// system, and no other process can reach the exchange.
func Hand(ctx context.Context, c *net.UnixConn, gates map[string]*acceptgate.Listener, opts ...Option) error {
	names, err := gateNames(gates)
	if err != nil {
		return err
	}
	o := newOffer(nil, "connection "+c.LocalAddr().String(), names, gates, opts)
	defer o.Close()
	done, err := o.exchange(ctx, c)
	if !done {
		return fmt.Errorf("handoff: hand over: %w", err)
	}
	o.waitDrained(ctx)
	return nil
}

// TakeConn takes the gates offered by Hand at the other end of c, as Take
// does from an Offer's path. The Takeover owns c from then on, and closes
// it when the exchange ends; on error, c is closed too and the process at
// the other end serves on.
func TakeConn(ctx context.Context, c *net.UnixConn, opts ...Option) (*Takeover, error) {
	t, err := take(ctx, c, newOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("handoff: take: %w", err)
	}
	return t, nil
}
