// Package control operates running acceptgate Listeners from outside the
// code that serves them: signals now, an admin HTTP API and its client as
// they land.
package control
