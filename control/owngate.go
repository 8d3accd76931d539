package control

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// An admin API served through a gate it controls locks itself out: once
// the gate pauses, the resume waits in the very accept queue it should
// empty, and once it rejects, the resume is refused with every other
// client; only killing the process gets the gate back. So a pause, reject
// or drain that would stop the gate the request itself came through is
// refused, and changes nothing. A resume is always served: it is what a
// connection kept alive from before the stop should still be able to do.

// afterStop says, for each action that stops a gate, what becomes of the
// API's next calls when the gate that carries them stops.
var afterStop = map[string]string{
	"pause":  "resume included, would wait behind the pause in its accept queue until the process is killed",
	"reject": "resume included, would be refused until the process is restarted",
	"drain":  "GET /v1/drain included, would be refused from the drain's deadline on",
}

// refuseOwnGate answers 409 and reports true when action would stop one of
// the named gates that r arrived through; nothing has changed then. The
// error names the gates and says where the API belongs instead.
func (h *Handler) refuseOwnGate(w http.ResponseWriter, r *http.Request, action string, names []string, reason string) bool {
	then, stops := afterStop[action]
	if !stops {
		return false
	}
	carriers := h.carriers(r, names)
	if len(carriers) == 0 {
		return false
	}
	msg := fmt.Sprintf("%s refused: this request came through %s, which the %s would stop, so the next calls to this API, %s; "+
		"serve the admin API on a listener of its own (control.ListenAdmin), not through a gate it controls; nothing was changed",
		action, strings.Join(carriers, ", "), action, then)
	h.logger.Warn("control: refused", "action", action, "through", carriers, "remote", r.RemoteAddr, "reason", reason, "err", "the request came through a gate the action would stop")
	writeError(w, http.StatusConflict, msg)
	return true
}

// noticeOwnGate logs, once per Handler, that the API is served through a
// gate it controls, so that the mistake shows in the log at the first call,
// before anyone needs a pause.
func (h *Handler) noticeOwnGate(r *http.Request) {
	if h.ownGateNoticed.Load() {
		return
	}
	carriers := h.carriers(r, h.sortedNames())
	if len(carriers) == 0 || !h.ownGateNoticed.CompareAndSwap(false, true) {
		return
	}
	h.logger.Warn("control: the admin API is served through a gate it controls; its pause, reject and drain will be refused there: serve it on a listener of its own (control.ListenAdmin)",
		"through", carriers)
}

// carriers returns, as `"name" (addr)`, the gates among names that r may
// have arrived through.
func (h *Handler) carriers(r *http.Request, names []string) []string {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var found []string
	for _, n := range names {
		if g := h.gates[n]; g != nil && arrivedThrough(local, g.Addr()) {
			found = append(found, fmt.Sprintf("listener %q (%s)", n, g.Addr()))
		}
	}
	return found
}

// arrivedThrough reports whether a connection whose own address is local
// may have been accepted from a listening socket at gate: the same unix
// socket path, or the same TCP port and address, where a gate on the
// wildcard address is reached at any address of its family (and an IPv6
// wildcard, dual-stack as Go listens, at IPv4 ones too). TLS keeps the
// address of the connection underneath, so a gate under or over TLS is
// found alike.
//
// The address is all net/http tells a handler of the connection it came
// on. It errs on the side of refusing: a different socket on the same
// port (an SO_REUSEPORT sibling, an IPv6-only wildcard beside an IPv4
// socket) is taken for the gate. Addresses of other kinds are never
// matched, since in-memory listeners give every connection the same one.
func arrivedThrough(local, gate net.Addr) bool {
	switch g := gate.(type) {
	case *net.TCPAddr:
		l, ok := local.(*net.TCPAddr)
		if !ok || l.Port != g.Port {
			return false
		}
		gip, lip := plainIP(g.IP), plainIP(l.IP)
		switch {
		case !gip.IsValid(): // no address: listens on all of them
			return true
		case gip.IsUnspecified():
			return gip.Is6() || lip.Is4()
		}
		return gip == lip
	case *net.UnixAddr:
		l, ok := local.(*net.UnixAddr)
		return ok && g.Name != "" && l.Name == g.Name
	}
	return false
}

// plainIP returns ip without IPv4 mapping and zone, so that a dual-stack
// socket's ::ffff:127.0.0.1 is 127.0.0.1.
func plainIP(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap().WithZone("")
}
