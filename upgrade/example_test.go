package upgrade_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/acceptgate/acceptgate/httpgate"
	"github.com/acceptgate/acceptgate/upgrade"
)

// A whole server that upgrades itself in place on SIGHUP (systemd's
// ExecReload=kill -HUP $MAINPID, or Type=notify-reload) and stops on
// SIGTERM. Replace its binary, send SIGHUP, and the new binary serves on
// the same socket; nobody is refused, and the old process finishes its
// requests and exits.
func Example() {
	// SIGHUP's default action ends the process: catch it before Ready.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM)

	upg, err := upgrade.New(upgrade.Options{PIDFile: "/run/myserver.pid"})
	if err != nil {
		log.Fatal(err) // the previous generation serves on
	}
	defer upg.Stop()
	gate, err := upg.Listen(context.Background(), "tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %d\n", os.Getpid())
	})}
	go srv.Serve(gate)
	if err := upg.Ready(); err != nil {
		log.Fatal(err) // the previous generation serves on
	}

	go func() {
		for sig := range signals {
			if sig == syscall.SIGTERM {
				upg.Stop()
				return
			}
			go func() {
				if err := upg.Upgrade(); err != nil {
					log.Print(err) // this generation serves on
				}
			}()
		}
	}()
	<-upg.Exit()

	// Answer every client admitted, then stop.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	httpgate.Shutdown(ctx, srv, gate)
}
