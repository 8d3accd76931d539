// Package upgrade upgrades a server in place: a new generation of the
// program takes the listening sockets over from the running one, with the
// clients waiting in their queues, and the old one finishes its requests
// and exits. Nobody is refused or reset, and no privilege is needed.
//
// A server's main makes an Upgrader, asks it for its gates (Listen, once
// per socket), serves them, and says Ready; on SIGHUP it calls Upgrade; when
// Exit is closed it shuts its servers down and returns:
//
//	upg, err := upgrade.New(upgrade.Options{})
//	gate, err := upg.Listen(ctx, "tcp", *addr)
//	go srv.Serve(gate)
//	if err := upg.Ready(); err != nil { log.Fatal(err) }
//	// on SIGHUP: upg.Upgrade(); on SIGTERM: upg.Stop()
//	<-upg.Exit()
//	httpgate.Shutdown(ctx, srv, gate) // every client admitted is answered
//
// The same code serves a first start, a takeover and systemd socket
// activation. Listen returns the socket the previous generation served for
// that network and address; else the one systemd passed (LISTEN_FDS: by
// name with ListenNamed, or a single unnamed one, as systemd-socket-activate
// -l ADDR passes it, for the first Listen); else a new one. A listener
// the server must make itself (with checks of its own, as
// control.ListenAdmin's) is handed over too once Adopted by name.
//
// # What Upgrade does
//
// Upgrade starts os.Executable (or Options.Executable, to follow a symbolic
// link a deploy switches) again with the same arguments and environment,
// standard input, output and error, in the same process group. The two generations talk over a socketpair the child inherits
// (descriptor 3, named by ACCEPTGATE_UPGRADE_FD): there is no offer path to
// choose or to find stale, and no other process can reach it. Every other
// descriptor is marked close-on-exec first, so that the child inherits
// nothing else. The exchange is package handoff's: the old generation's
// gates stop taking clients from the kernel (they wait in the queue), the
// child's New receives the sockets, and its Ready commits; until then any
// failure (the child cannot start, exits, refuses, or is silent past
// Options.UpgradeTimeout, and is then killed) rolls back, and the old
// generation serves on. A second Upgrade while one is under way is refused
// with ErrInProgress.
//
// # systemd
//
// When NOTIFY_SOCKET is set, the Upgrader speaks sd_notify: READY=1 at
// Ready; RELOADING=1 with MONOTONIC_USEC= when an Upgrade begins; READY=1
// when it ends, after MAINPID= of the next generation if it took over
// (sent by the old generation, so NotifyAccess=main suffices); STOPPING=1
// on Stop. A unit:
//
//	[Service]
//	Type=notify-reload      # or Type=notify with ExecReload=kill -HUP $MAINPID
//	NotifyAccess=main
//	ExecStart=/usr/local/bin/myserver -addr :8080
//	KillMode=mixed
//
// Options.PIDFile writes the process id at every Ready, atomically, for
// supervisors that read one. Options.OfferPath and TakeoverPath let a
// generation started by other means than Upgrade take over through a unix
// socket path; that one says its own MAINPID=, so it needs
// NotifyAccess=all.
//
// Upgrades work on Linux and the BSDs, whose unix sockets have
// SOCK_SEQPACKET; elsewhere (macOS has none, Windows has no descriptors
// to pass) Listen makes new sockets and Upgrade fails, wrapping
// errors.ErrUnsupported, with this generation serving on.
//
// The repository's docs/upgrades.md describes the handoff underneath,
// systemd units, and how upgrades were measured.
package upgrade
