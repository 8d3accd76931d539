//go:build unix

package control

// ListenViaPrivateDir is the way other Unix systems make a private socket;
// it works on Linux too, so it is tested here.
var ListenViaPrivateDir = listenViaPrivateDir
