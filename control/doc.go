// Package control operates running acceptgate Listeners from outside the
// code that serves them: an admin HTTP API over named gates (Handler), its
// Client, a listener and a server for it (ListenAdmin, NewServer), and
// signals (HandleSignals).
//
// Serve the Handler on ListenAdmin's listener with NewServer's server:
//
//	ln, err := control.ListenAdmin(ctx, "127.0.0.1:9090", h, nil)
//	...
//	go control.NewServer(h).Serve(ln)
//
// Not through a gate it controls, on the application's own mux: once that
// gate paused, the resume would wait behind it. The Handler refuses such a
// pause, reject or drain with 409 and changes nothing (see Handler).
//
// The listener admits only so many connections at once (WithMaxConns) and
// the server closes the ones nobody uses (WithTimeouts), so that no client
// can take the descriptors the process needs to serve, and the server's
// own errors go through the same rate-limited log as refused requests.
//
// The Handler decides who may call it before any route runs, so that a web
// page the operator has open can neither change a gate's state nor read the
// API, and a token, once set, is needed everywhere but /readyz; see Handler
// and docs/security.md. The Handler serves one page of its own
// at "/", the admin page, and may serve read-only routes added with
// WithHandler, such as Prometheus metrics, under the same rules.
//
// Behind HAProxy, Handler.ServeAgent answers its agent check (agent-check)
// from the same gates and drain, on a listener of its own.
//
// Operating gates through it (ctl, signals, draining behind a load balancer,
// systemd, the admin page, metrics) is described in the repository's
// docs/operating.md.
package control
