package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/metrics"
)

// Serve a gate's metrics with promhttp, from a registry of their own.
func ExampleCollector() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer gate.Close()

	c := metrics.NewCollector()
	if err := c.Register("http", gate); err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	gate.Pause()
	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "acceptgate_state{") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// acceptgate_state{gate="http",state="accepting"} 0
	// acceptgate_state{gate="http",state="closed"} 0
	// acceptgate_state{gate="http",state="paused"} 1
	// acceptgate_state{gate="http",state="rejecting"} 0
}

// Put the gates' metrics under a namespace of the server's and label them
// with what tells this process's gates from others'.
func ExampleNewCollector() {
	gate, err := acceptgate.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer gate.Close()

	c := metrics.NewCollector(metrics.WithNamespace("shop"),
		metrics.WithConstLabels(prometheus.Labels{"pool": "public"}))
	if err := c.Register("http", gate); err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "shop_acceptgate_state{") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// shop_acceptgate_state{gate="http",pool="public",state="accepting"} 1
	// shop_acceptgate_state{gate="http",pool="public",state="closed"} 0
	// shop_acceptgate_state{gate="http",pool="public",state="paused"} 0
	// shop_acceptgate_state{gate="http",pool="public",state="rejecting"} 0
}

// Export the network namespace's listen-queue counters from one process of
// the namespace only: every process in it would report the same values.
// Not run: the values are the kernel's, and absent elsewhere than Linux.
func ExampleWithHostCounters() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.WithHostCounters()))
	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
	}
}
