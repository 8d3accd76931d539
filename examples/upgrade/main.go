// Command upgrade is an HTTP server (GET / says its pid) that upgrades in
// place on SIGHUP, losing no client, stops on SIGTERM, and speaks systemd.
package main

import (
	"context"
	"flag"
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

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve HTTP on")
	flag.Parse()
	// Caught from the start: a reload may be asked as soon as systemd
	// hears READY=1, and SIGHUP's default action ends the process.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	upg, err := upgrade.New(upgrade.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()
	gate, err := upg.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from pid=%d\n", os.Getpid())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(gate)
	if err := upg.Ready(); err != nil {
		log.Fatal(err) // the previous generation serves on
	}
	log.Printf("pid=%d serving http://%s/", os.Getpid(), gate.Addr())

	go func() {
		for sig := range signals {
			if sig != syscall.SIGHUP {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	httpgate.Shutdown(ctx, srv, gate) // every client admitted gets its answer
}
