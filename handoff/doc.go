// Package handoff moves a server's listening sockets to a new process, with
// their queues, so that an upgrade refuses and resets no client and needs no
// privilege.
//
// The running process offers its gates on a unix socket (Listen, then
// Serve); the new one takes them (Take), starts serving them, and commits
// (Takeover.Commit). The exchange:
//
//  1. The taker says which version of the exchange it speaks.
//  2. The offer pauses every gate strictly, all at once (after this it takes
//     nothing from the kernel; a rejecting gate stops delivering from its
//     queue) and sends every socket by name with SCM_RIGHTS in one message,
//     with what the taker needs to serve it as before: network, address,
//     state, options, backlog, how a rejecting socket refuses, a unix path's
//     mode.
//  3. The taker wraps every socket in a gate that holds it as it came
//     (paused, or rejecting without delivering), all at once, and says it
//     is ready.
//  4. The offer says go; the taker puts every gate in the state it had in
//     the old process, all at once, and says it is accepting.
//  5. The offer lets go of its descriptors without touching the sockets (no
//     shutdown, no unlink: the new process owns them), removes its offer
//     socket so that the new process can offer at the same path, and says
//     done. Its gates are closed; Accept still delivers the connections a
//     Reject had taken out of the kernel, and Serve returns once they are
//     delivered.
//
// Hand and TakeConn run the same exchange over a connection both
// processes already hold, such as a socketpair whose other end a child
// inherited: no path to choose, none left behind, no other process able to
// reach it. Package upgrade hands sockets to the next generation so.
//
// Until the go, the offer can roll back: if the taker fails, disconnects or
// is silent longer than the timeout, every gate goes back to the state it
// had and the old process serves on. So it does when a single gate cannot
// be paused, taken or put in its state: the gates go together or not at
// all. Clients that connect meanwhile wait in
// the kernel's queue, which both processes share, and are served by
// whichever process goes on.
//
// From the go on, exactly one process ends up serving the sockets, and
// only a word or the end of a connection decides which, never a silence:
// the taker may be serving from the go on, and a slow process is not a dead
// one. The old process stays strictly paused until the taker says
// accepting (it hands over, even late), says it stepped back, or its
// connection ends, which means it died and took its copies with it (the
// old process serves again at once; the clients the taker had accepted go
// with it, as with any process that dies). A taker still silent after three
// timeouts, or when the offer is closed or Serve's context ends, is told
// the offer rolls back, and the old process serves again. A taker that
// hears a rollback after its go steps back: it closes its gates without
// touching their sockets, whatever state it had put them in, and so does
// one that cannot put a gate in its state, before it says so. A taker whose
// old process ends without a word after the go keeps serving; so does one
// that said accepting and hears nothing within three timeouts: the old
// process hands over once it reads it.
//
// Once it has sent the sockets, the offer says so whenever it rolls back,
// so that the taker can tell a rollback from the old process's death. From
// step 2 on the old process takes nothing from the kernel; all it still
// does is wait for the taker's word and send go. If it dies then (killed,
// crashed), its descriptors go with it and the taker's are the only ones
// left: Commit keeps them, puts each gate in its state and serves, and
// returns an error saying the old process never said go. Closing them would
// leave nobody serving and reset every client in the queues. What dies with
// the old process is what dies with any process: the connections it had
// accepted, and those a Reject had taken out of the kernel. A rollback the
// old process decided and died before saying is taken for a death too,
// which is right: nobody else holds the sockets.
//
// Between builds: a taker of this build also steps back when an older
// offer, which rolled back once the accepting was later than its timeout,
// says so after the go. An older taker keeps serving when it hears a
// rollback after its go: this build's offer hands over to one that is late
// by less than three timeouts, and one later than that serves beside the
// old process, as before.
//
// Bad input changes nothing: a peer running as another user (other than
// root), a message that is truncated, too large, of another version or out
// of turn, or descriptors that do not match their description end the
// exchange with an error, and the offer rolls back and waits for the next
// taker.
//
// Handoff works on Unix systems whose unix sockets have SOCK_SEQPACKET
// (Linux, the BSDs; not macOS, where Listen and Take fail with
// EPROTONOSUPPORT); Linux can hand over every state, including a rejecting
// TCP socket (one given to acceptgate.Wrap that rejects behind a fence only
// to a process that may lift it, with CAP_NET_RAW). Elsewhere Listen and
// Take return errors wrapping errors.ErrUnsupported.
package handoff
