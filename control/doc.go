// Package control operates running acceptgate Listeners from outside the
// code that serves them: an admin HTTP API over named gates (Handler), its
// Client, a listener for it (ListenAdmin), and signals (HandleSignals).
//
// The Handler decides who may call it before any route runs, so that a web
// page the operator has open can neither change a gate's state nor read the
// API, and a token, once set, is needed everywhere but /readyz; see Handler
// and the README's Security section. The Handler serves one page of its own
// at "/", the admin page, and may serve read-only routes added with
// WithHandler, such as Prometheus metrics, under the same rules.
package control
