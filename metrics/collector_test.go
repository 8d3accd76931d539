package metrics_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const patience = 10 * time.Second

// onLinux is set where the kernel tells the accept queue and the host's
// listen counters.
const onLinux = runtime.GOOS == "linux"

func listen(t *testing.T, opts ...acceptgate.Option) *acceptgate.Listener {
	t.Helper()
	l, err := acceptgate.Listen(context.Background(), "tcp4", "127.0.0.1:0", opts...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), patience)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually waits until cond holds, failing the test after patience.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: "+format, args...)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

func accept(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(patience):
		l.Close() // frees the goroutine
		<-ch
		t.Fatal("Accept did not return")
		return nil
	}
}

// gather scrapes c through a pedantic registry, which also checks that
// Collect sends only what Describe announced, and returns every sample as
// `name{label="value",...}` => value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	samples := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			samples[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = value(f.GetType(), m)
		}
	}
	return samples
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	if typ == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// stateLines is the exposition of the state gauges and transition counters
// of gate "web" in state current, entered as often as entered says.
func stateLines(current acceptgate.State, entered map[acceptgate.State]int) string {
	var b strings.Builder
	b.WriteString("# HELP acceptgate_state 1 for the gate's current state, 0 for the others.\n# TYPE acceptgate_state gauge\n")
	for _, s := range []acceptgate.State{acceptgate.Accepting, acceptgate.Closed, acceptgate.Paused, acceptgate.Rejecting} {
		v := 0
		if s == current {
			v = 1
		}
		fmt.Fprintf(&b, "acceptgate_state{gate=%q,state=%q} %d\n", "web", s, v)
	}
	b.WriteString("# HELP acceptgate_transitions_total Transitions of the gate into each state.\n# TYPE acceptgate_transitions_total counter\n")
	for _, s := range []acceptgate.State{acceptgate.Accepting, acceptgate.Closed, acceptgate.Paused, acceptgate.Rejecting} {
		fmt.Fprintf(&b, "acceptgate_transitions_total{gate=%q,state=%q} %d\n", "web", s, entered[s])
	}
	return b.String()
}

func TestCollectorFollowsAGateThroughEveryState(t *testing.T) {
	l := listen(t, acceptgate.WithTracking(), acceptgate.WithBacklog(16))
	c := metrics.NewCollector()
	require.NoError(t, c.Register("web", l))
	entered := map[acceptgate.State]int{}
	checkState := func(s acceptgate.State) {
		t.Helper()
		assert.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(stateLines(s, entered)),
			"acceptgate_state", "acceptgate_transitions_total"))
	}
	at := func(name string) string { return name + `{gate="web"}` }

	// Accepting: two clients served, one still open.
	dial(t, l.Addr())
	dial(t, l.Addr())
	accept(t, l).Close()
	accept(t, l)
	checkState(acceptgate.Accepting)
	m := gather(t, c)
	assert.Equal(t, 2.0, m[at("acceptgate_accepted_connections_total")])
	assert.Equal(t, 1.0, m[at("acceptgate_active_connections")], "one closed, one open")
	assert.Equal(t, 0.0, m[at("acceptgate_pending_connections")])
	assert.Equal(t, 0.0, m[at("acceptgate_aborted_connections_total")], "WithSkipAborted is off")
	if onLinux {
		assert.Equal(t, 16.0, m[at("acceptgate_accept_queue_limit")])
	}

	// Paused: three clients wait in the kernel's queue.
	require.NoError(t, l.Pause())
	entered[acceptgate.Paused]++
	checkState(acceptgate.Paused)
	for range 3 {
		dial(t, l.Addr())
	}
	if onLinux {
		eventually(t, func() bool { return gather(t, c)[at("acceptgate_accept_queue_length")] == 3 }, "three clients queued")
	}

	// Rejecting: the three are in the kernel's queue or taken out, pending.
	require.NoError(t, l.Reject())
	entered[acceptgate.Rejecting]++
	checkState(acceptgate.Rejecting)
	m = gather(t, c)
	if onLinux {
		assert.Equal(t, 3.0, m[at("acceptgate_pending_connections")]+m[at("acceptgate_accept_queue_length")],
			"the queued clients, pending or still queued")
	}

	// Accepting again: the three are served.
	require.NoError(t, l.Resume())
	entered[acceptgate.Accepting]++
	checkState(acceptgate.Accepting)
	for range 3 {
		accept(t, l)
	}
	m = gather(t, c)
	assert.Equal(t, 5.0, m[at("acceptgate_accepted_connections_total")])
	assert.Equal(t, 4.0, m[at("acceptgate_active_connections")])
	assert.Equal(t, 0.0, m[at("acceptgate_pending_connections")])

	// Closed: no socket, so no queue to tell of.
	before := gather(t, c)
	require.NoError(t, l.Close())
	entered[acceptgate.Closed]++
	checkState(acceptgate.Closed)
	m = gather(t, c)
	assert.NotContains(t, m, at("acceptgate_accept_queue_length"))
	assert.NotContains(t, m, at("acceptgate_accept_queue_limit"))

	// Seconds: every state was visited, none goes back.
	for _, s := range []acceptgate.State{acceptgate.Accepting, acceptgate.Paused, acceptgate.Rejecting, acceptgate.Closed} {
		key := fmt.Sprintf(`acceptgate_state_seconds_total{gate="web",state=%q}`, s)
		assert.GreaterOrEqual(t, m[key], before[key], "%s never decreases", key)
		if s != acceptgate.Closed {
			assert.Positive(t, m[key], key)
		}
	}
	assert.Equal(t, l.Stats().Spent[acceptgate.Paused].Seconds(), m[`acceptgate_state_seconds_total{gate="web",state="paused"}`],
		"the gate's own count, left behind")
}

func TestCollectorLabelsEachGate(t *testing.T) {
	c := metrics.NewCollector()
	a, b := listen(t), listen(t)
	require.NoError(t, c.Register("a", a))
	require.NoError(t, c.Register("b", b))
	require.NoError(t, b.Pause())
	dial(t, a.Addr())
	accept(t, a)

	m := gather(t, c)
	assert.Equal(t, 1.0, m[`acceptgate_state{gate="a",state="accepting"}`])
	assert.Equal(t, 1.0, m[`acceptgate_state{gate="b",state="paused"}`])
	assert.Equal(t, 1.0, m[`acceptgate_accepted_connections_total{gate="a"}`])
	assert.Equal(t, 0.0, m[`acceptgate_accepted_connections_total{gate="b"}`])

	c.Unregister("a")
	m = gather(t, c)
	assert.NotContains(t, m, `acceptgate_accepted_connections_total{gate="a"}`)
	assert.Contains(t, m, `acceptgate_accepted_connections_total{gate="b"}`)
}

func TestRegisterRefusesBadInputAndChangesNothing(t *testing.T) {
	c := metrics.NewCollector()
	l := listen(t)
	require.NoError(t, c.Register("web", l))
	for _, tc := range []struct {
		name string
		gate *acceptgate.Listener
		want string
	}{
		{name: "", gate: l, want: "empty gate name"},
		{name: "web", gate: listen(t), want: "already taken"},
		{name: "other", gate: nil, want: "nil gate"},
		// A label value must be UTF-8: a scrape would panic on it, in the
		// registry's goroutine, and take the server down.
		{name: "we\xffb", gate: listen(t), want: "UTF-8"},
	} {
		assert.ErrorContains(t, c.Register(tc.name, tc.gate), tc.want, "%q", tc.name)
	}
	assert.Equal(t, 1, testutil.CollectAndCount(c, "acceptgate_accepted_connections_total"))
}

// A paused gate whose accept queue is full makes the kernel drop new
// clients; the network namespace's counters show it. The dials are bounded: the kernel
// retries their SYNs until the context ends.
func TestHostCountersShowAPausedGateOverflowing(t *testing.T) {
	if !onLinux {
		t.Skip("the host's listen counters are read from Linux's /proc/net/netstat")
	}
	c := metrics.NewCollector(metrics.WithHostCounters())
	before := gather(t, c)
	require.Contains(t, before, "acceptgate_tcp_listen_overflows_total{}")
	require.Contains(t, before, "acceptgate_tcp_listen_drops_total{}")

	l := listen(t, acceptgate.WithBacklog(1))
	require.NoError(t, c.Register("web", l))
	require.NoError(t, l.Pause())
	// A backlog of 1 holds 2 clients (backlog+1); the third overflows.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	for range 3 {
		if conn, err := d.DialContext(ctx, "tcp4", l.Addr().String()); err == nil {
			defer conn.Close()
		}
	}
	eventually(t, func() bool {
		return gather(t, c)["acceptgate_tcp_listen_overflows_total{}"] > before["acceptgate_tcp_listen_overflows_total{}"]
	}, "an overflow counted")
	after := gather(t, c)
	assert.Greater(t, after["acceptgate_tcp_listen_drops_total{}"], before["acceptgate_tcp_listen_drops_total{}"], "overflows count as drops")
}

// TestScrapesDuringTransitionsSeeCountersOnlyGrow scrapes while the gate
// goes round its states and another gate comes and goes: under -race, and
// each counter of gate "web" is never lower than in the scrape before.
func TestScrapesDuringTransitionsSeeCountersOnlyGrow(t *testing.T) {
	c := metrics.NewCollector()
	web := listen(t)
	require.NoError(t, c.Register("web", web))
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	other := listen(t)

	const rounds = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range rounds {
			web.Pause()
			web.Reject()
			web.Resume()
			if i%2 == 0 {
				c.Register("other", other)
			} else {
				c.Unregister("other")
			}
		}
	}()
	last := map[string]float64{}
	for scrapes := 0; ; scrapes++ {
		families, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range families {
			if f.GetType() != dto.MetricType_COUNTER {
				continue
			}
			for _, m := range f.GetMetric() {
				key := f.GetName() + fmt.Sprint(m.GetLabel())
				if !strings.Contains(key, `value:"web"`) {
					continue
				}
				v := m.GetCounter().GetValue()
				require.GreaterOrEqual(t, v, last[key], "%s after %d scrapes", key, scrapes)
				last[key] = v
			}
		}
		select {
		case <-done:
			st := web.Stats()
			for _, s := range []acceptgate.State{acceptgate.Paused, acceptgate.Rejecting, acceptgate.Accepting} {
				assert.EqualValues(t, rounds, st.Entered[s], "%v", s)
			}
			return
		default:
		}
	}
}

// A second Collector in the same registry would export the same metrics; the
// registry refuses it, as Collector's doc says, and one Collector takes
// every gate instead.
func TestOneCollectorPerRegistry(t *testing.T) {
	a, b := metrics.NewCollector(), metrics.NewCollector()
	require.NoError(t, a.Register("web", listen(t)))
	require.NoError(t, b.Register("grpc", listen(t)))
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(a))
	assert.Error(t, reg.Register(b), "a second Collector")

	require.NoError(t, a.Register("grpc", listen(t)))
	m := gather(t, a)
	assert.Contains(t, m, `acceptgate_accepted_connections_total{gate="web"}`)
	assert.Contains(t, m, `acceptgate_accepted_connections_total{gate="grpc"}`)
}

// documented are the names of the metrics the package documents, with
// their types, as a Collector without options sends them for a gate on
// Linux. A change here breaks dashboards.
var documented = map[string]dto.MetricType{
	"acceptgate_accepted_connections_total": dto.MetricType_COUNTER,
	"acceptgate_state":                      dto.MetricType_GAUGE,
	"acceptgate_transitions_total":          dto.MetricType_COUNTER,
	"acceptgate_state_seconds_total":        dto.MetricType_COUNTER,
	"acceptgate_active_connections":         dto.MetricType_GAUGE,
	"acceptgate_pending_connections":        dto.MetricType_GAUGE,
	"acceptgate_accept_queue_length":        dto.MetricType_GAUGE,
	"acceptgate_accept_queue_limit":         dto.MetricType_GAUGE,
	"acceptgate_aborted_connections_total":  dto.MetricType_COUNTER,
}

var hostCounters = []string{"acceptgate_tcp_listen_overflows_total", "acceptgate_tcp_listen_drops_total"}

// families gathers c through a pedantic registry.
func families(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	fs, err := reg.Gather()
	require.NoError(t, err)
	byName := make(map[string]*dto.MetricFamily, len(fs))
	for _, f := range fs {
		byName[f.GetName()] = f
	}
	return byName
}

func TestDefaultNamesAreTheDocumentedOnesWithoutHostCounters(t *testing.T) {
	c := metrics.NewCollector()
	require.NoError(t, c.Register("web", listen(t)))
	got := map[string]dto.MetricType{}
	for name, f := range families(t, c) {
		got[name] = f.GetType()
	}
	want := maps.Clone(documented)
	if !onLinux {
		delete(want, "acceptgate_accept_queue_length")
		delete(want, "acceptgate_accept_queue_limit")
	}
	assert.Equal(t, want, got, "no host counters unless asked for")
}

func TestHostCountersAreOptIn(t *testing.T) {
	c := metrics.NewCollector(metrics.WithHostCounters())
	require.NoError(t, c.Register("web", listen(t)))
	got := families(t, c)
	for _, name := range hostCounters {
		if !onLinux {
			assert.NotContains(t, got, name, "only Linux's /proc/net/netstat is read")
			continue
		}
		require.Contains(t, got, name)
		f := got[name]
		assert.Equal(t, dto.MetricType_COUNTER, f.GetType(), name)
		assert.Contains(t, f.GetHelp(), "network namespace", name)
		require.Len(t, f.GetMetric(), 1, name)
		assert.Empty(t, f.GetMetric()[0].GetLabel(), "%s is not a gate's", name)
	}
	for name := range documented {
		if onLinux || !strings.Contains(name, "queue") {
			assert.Contains(t, got, name, "the option adds, it takes nothing away")
		}
	}
}

// TestNamespaceAndConstLabelsReachEveryMetric gathers every metric, the
// host counters included, and finds the namespace in front of each name and
// the const labels on each sample, beside the gate label.
func TestNamespaceAndConstLabelsReachEveryMetric(t *testing.T) {
	c := metrics.NewCollector(metrics.WithNamespace("shop"),
		metrics.WithConstLabels(prometheus.Labels{"zone": "a"}),
		metrics.WithConstLabels(prometheus.Labels{"pool": "public"}),
		metrics.WithHostCounters())
	require.NoError(t, c.Register("web", listen(t)))
	got := families(t, c)
	want := slices.Collect(maps.Keys(documented))
	if onLinux {
		want = append(want, hostCounters...)
	} else {
		want = slices.DeleteFunc(want, func(n string) bool { return strings.Contains(n, "queue") })
	}
	require.Len(t, got, len(want))
	for _, name := range want {
		f := got["shop_"+name]
		require.NotNil(t, f, "shop_%s among %v", name, slices.Collect(maps.Keys(got)))
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			assert.Equal(t, "a", labels["zone"], "%s %v", f.GetName(), labels)
			assert.Equal(t, "public", labels["pool"], "%s %v", f.GetName(), labels)
			if !slices.Contains(hostCounters, name) {
				assert.Equal(t, "web", labels["gate"], "%s %v", f.GetName(), labels)
			}
		}
	}
}

func TestCollectorPassesLint(t *testing.T) {
	for name, opts := range map[string][]metrics.Option{
		"default": nil,
		"namespace and const labels": {metrics.WithNamespace("shop"),
			metrics.WithConstLabels(prometheus.Labels{"zone": "a"}), metrics.WithHostCounters()},
	} {
		t.Run(name, func(t *testing.T) {
			c := metrics.NewCollector(opts...)
			require.NoError(t, c.Register("web", listen(t)))
			problems, err := testutil.CollectAndLint(c)
			require.NoError(t, err)
			assert.Empty(t, problems)
			assert.Positive(t, testutil.CollectAndCount(c), "something was linted")
		})
	}
}

// Options a registry cannot take make Register fail, not a scrape panic.
func TestRegistryRefusesInvalidOptions(t *testing.T) {
	for name, opt := range map[string]metrics.Option{
		"namespace not UTF-8":      metrics.WithNamespace("sh\xffop"),
		"const label not UTF-8":    metrics.WithConstLabels(prometheus.Labels{"zo\xffne": "x"}),
		"const label empty":        metrics.WithConstLabels(prometheus.Labels{"": "x"}),
		"const label gate":         metrics.WithConstLabels(prometheus.Labels{"gate": "x"}),
		"const label state":        metrics.WithConstLabels(prometheus.Labels{"state": "x"}),
		"const label value binary": metrics.WithConstLabels(prometheus.Labels{"zone": "\xff"}),
	} {
		c := metrics.NewCollector(opt)
		require.NoError(t, c.Register("web", listen(t)))
		assert.Error(t, prometheus.NewRegistry().Register(c), name)
		// Collect called without a registry sends metrics that fail to
		// write, as a registry's Gather would report them.
		ch := make(chan prometheus.Metric)
		go func() { c.Collect(ch); close(ch) }()
		var failed int
		for m := range ch {
			if m.Write(&dto.Metric{}) != nil {
				failed++
			}
		}
		assert.Positive(t, failed, "%s: a direct scrape fails too", name)
	}
}

// Collectors that differ in a const label's value, one per pool of gates,
// share a registry, as Collector's doc says.
func TestConstLabelsLetCollectorsShareARegistry(t *testing.T) {
	a := metrics.NewCollector(metrics.WithConstLabels(prometheus.Labels{"pool": "public"}))
	b := metrics.NewCollector(metrics.WithConstLabels(prometheus.Labels{"pool": "internal"}))
	require.NoError(t, a.Register("web", listen(t)))
	require.NoError(t, b.Register("web", listen(t)))
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(a))
	require.NoError(t, reg.Register(b))
	n, err := testutil.GatherAndCount(reg, "acceptgate_accepted_connections_total")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
