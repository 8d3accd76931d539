// Package acceptgate wraps a net.Listener so that a running server can stop
// taking connections for a while without tearing itself down.
//
// A Listener is in one of four states:
//
//   - Accepting: Accept hands out connections as the wrapped listener does.
//   - Paused: Accept blocks and takes nothing from the kernel. New clients
//     complete the TCP handshake and wait in the kernel's accept queue (up to
//     the listen backlog); Resume serves them in order.
//   - Rejecting: new clients are refused at once (ECONNREFUSED). Accept
//     delivers the clients the kernel had admitted before, those in its
//     accept queue and those whose handshake was under way, and then blocks,
//     as when paused. How the socket refuses depends on the platform and on
//     what the process may do (see Reject); on Linux none of it needs a
//     privilege.
//   - Closed: the wrapped listener is closed for good and Accept returns an
//     error wrapping net.ErrClosed.
//
// While paused or rejecting, Accept never returns an error of its own, so the
// server's accept loop (http.Server.Serve, grpc.Server.Serve, a hand-written
// loop) stays alive with its handlers and carries on after Resume.
//
// For operations, the repository's docs/ hold the depth: how Reject works
// and what it costs on each platform (docs/reject.md), upgrades
// (docs/upgrades.md), operating gates (docs/operating.md) and what clients
// see (docs/clients.md).
package acceptgate
