// Command tableflip is examples/upgrade written with
// github.com/cloudflare/tableflip, the program the comparison runs beside
// it: an HTTP server (GET / says its pid) that upgrades in place on SIGHUP
// and stops on SIGTERM, shut down the way tableflip's own example does.
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

	"github.com/cloudflare/tableflip"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve HTTP on")
	flag.Parse()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	upg, err := tableflip.New(tableflip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()
	ln, err := upg.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from pid=%d\n", os.Getpid())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}
	log.Printf("pid=%d serving http://%s/", os.Getpid(), ln.Addr())

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
	srv.Shutdown(ctx)
}
