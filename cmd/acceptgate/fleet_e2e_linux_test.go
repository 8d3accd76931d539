//go:build linux

package main_test

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

// The fleet tests: three serve instances behind a real HAProxy, which
// health-checks each one's /readyz, under load through HAProxy; the rolling
// steps an operator runs (a drain and restart, an upgrade in place, a pause
// or reject of one instance) lose no request. docs/operating.md ("Behind a
// load balancer") shows the configuration and the figures of one run.

var fleetLong = flag.Bool("fleet.long", false, "fleet tests: the long form (20 s of load, two upgrades of each instance); also ACCEPTGATE_FLEET_LONG=1")

func longFleet() bool { return *fleetLong || os.Getenv("ACCEPTGATE_FLEET_LONG") == "1" }

// haproxyPath finds HAProxy, or skips: CI, which installs it, sets
// ACCEPTGATE_REQUIRE_HAPROXY=1 so that a missing one fails instead.
func haproxyPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("ACCEPTGATE_REQUIRE_HAPROXY") == "1" {
			t.Fatalf("haproxy is not installed and ACCEPTGATE_REQUIRE_HAPROXY=1: %v", err)
		}
		t.Skip("haproxy is not installed (Debian: apt-get install haproxy); the fleet tests need it")
	}
	return p
}

// fleetConfig is what haproxyConfig fills in.
type fleetConfig struct {
	Bind        string // the frontend's bind address, such as 127.0.0.1:8080 or fd@3
	StatsSocket string // the runtime API's unix socket
	Servers     []fleetServer
	// Agent: HAProxy asks each server's agent (serve --agent) whether to
	// send it new sessions, and checks that it lives with a connection to
	// its admin port, in place of /readyz.
	Agent bool
}

type fleetServer struct {
	Name  string
	Addr  string // host:port of the served port
	Admin string // port of the admin API, where /readyz is
	Agent string // port of the agent check, with fleetConfig.Agent
}

// haproxyTemplate is the configuration the fleet tests run, and
// docs/operating.md shows (TestFleetConfigInDocs keeps them the same).
var haproxyTemplate = template.Must(template.New("haproxy.cfg").Parse(`global
    stats socket {{.StatsSocket}} mode 600 level admin
    maxconn 4096

defaults
    mode http
    # A paused server's kernel completes the handshake, so a connect
    # to it succeeds: timeout connect bounds only a full queue, and
    # timeout server bounds how long a request may wait for a resume.
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # A check may wait this long for its answer (by default, inter):
    # a busy machine is not a failing server.
    timeout check 1s
    # A rejecting server refuses the connection: try again on another
    # server (redispatch on every retry; by default only the last
    # one does, after a turn-around of 1s for each retry before it).
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend web
    bind {{.Bind}}
    default_backend fleet

backend fleet
    balance roundrobin
{{- if .Agent}}
    # The agent (serve --agent) says ready, drain or maint; HAProxy
    # asks it every 100ms, and takes a server out or back at the first
    # answer. A connection to the admin port every 100ms tells that the
    # process lives: three failures in a row (300ms) take it out, two
    # successes bring it back.
    default-server inter 100ms fall 3 rise 2 agent-inter 100ms
{{- range .Servers}}
    server {{.Name}} {{.Addr}} check port {{.Admin}} agent-check agent-port {{.Agent}}
{{- end}}
{{- else}}
    option httpchk GET /readyz
    http-check expect status 200
    # /readyz is checked every 100ms on the admin port. fall 3: three
    # failures in a row (300ms) take a server out, so that one lost
    # check does not, and a drain's grace must be longer than that;
    # rise 2: two passes bring it back, once it answers again.
    default-server inter 100ms fall 3 rise 2
{{- range .Servers}}
    server {{.Name}} {{.Addr}} check port {{.Admin}}
{{- end}}
{{- end}}
`))

func haproxyConfig(c fleetConfig) string {
	var b strings.Builder
	if err := haproxyTemplate.Execute(&b, c); err != nil {
		panic(err)
	}
	return b.String()
}

// docsFleetConfig is the configuration as docs/operating.md shows it.
var docsFleetConfig = fleetConfig{
	Bind:        "127.0.0.1:8080",
	StatsSocket: "/run/haproxy/admin.sock",
	Servers: []fleetServer{
		{"s1", "127.0.0.1:8081", "9091", "9191"},
		{"s2", "127.0.0.1:8082", "9092", "9192"},
		{"s3", "127.0.0.1:8083", "9093", "9193"},
	},
}

// docsAgentConfig is the agent's configuration as docs/operating.md shows
// it.
var docsAgentConfig = fleetConfig{Bind: docsFleetConfig.Bind, StatsSocket: docsFleetConfig.StatsSocket,
	Servers: docsFleetConfig.Servers, Agent: true}

// The docs show the configuration the tests run, byte for byte.
func TestFleetConfigInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operating.md")
	require.NoError(t, err)
	// Not assert.Contains: it would print the whole page.
	cfg := haproxyConfig(docsFleetConfig)
	assert.True(t, strings.Contains(string(doc), "```\n"+cfg+"```\n"),
		"docs/operating.md shows haproxyConfig(docsFleetConfig) exactly:\n%s", cfg)
	cfg = haproxyConfig(docsAgentConfig)
	backend := cfg[strings.Index(cfg, "\nbackend fleet")+1:]
	assert.True(t, strings.Contains(string(doc), "```\n"+backend+"```\n"),
		"docs/operating.md shows the backend of haproxyConfig(docsAgentConfig) exactly:\n%s", backend)
}

// haproxy is a running HAProxy, in the foreground (-db), the test's child.
type haproxy struct {
	cmd        *exec.Cmd
	exited     chan error
	sock       string // the runtime API
	stderrPath string
	frontend   string // host:port clients connect to
}

// startHAProxy runs HAProxy with cfg for servers, its frontend on a
// listener the test made (passed as fd 3: no port to guess), and waits
// until every server is UP. It is killed at the end of the test.
func startHAProxy(t *testing.T, servers []fleetServer, agent bool) *haproxy {
	t.Helper()
	bin := haproxyPath(t)
	// A short directory of its own: a unix socket's path must fit in 108
	// bytes, and t.TempDir's carry the test's name.
	dir, err := os.MkdirTemp("", "fleet")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	fe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer fe.Close() // HAProxy has its own copy
	feFile, err := fe.(*net.TCPListener).File()
	require.NoError(t, err)
	defer feFile.Close()
	h := &haproxy{sock: filepath.Join(dir, "haproxy.sock"), exited: make(chan error, 1), frontend: fe.Addr().String()}
	cfg := haproxyConfig(fleetConfig{Bind: "fd@3", StatsSocket: h.sock, Servers: servers, Agent: agent})
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	h.stderrPath = stderr.Name()
	h.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = stderr, stderr
	h.cmd.ExtraFiles = []*os.File{feFile}
	require.NoError(t, h.cmd.Start())
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-h.exited
	})
	for _, s := range servers {
		h.waitStatus(t, s.Name, "UP")
	}
	return h
}

// said is what HAProxy wrote, for a failure's message.
func (h *haproxy) said() string {
	b, _ := os.ReadFile(h.stderrPath)
	return string(b)
}

// stat asks HAProxy's runtime API for "show stat": one row for each
// proxy and server, keyed "pxname/svname", each a map of the CSV's columns.
func (h *haproxy) stat(t *testing.T) map[string]map[string]string {
	t.Helper()
	rows, err := h.tryStat()
	require.NoError(t, err, "show stat; HAProxy said:\n%s", h.said())
	return rows
}

func (h *haproxy) tryStat() (map[string]map[string]string, error) {
	c, err := net.DialTimeout("unix", h.sock, patience)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	text, ok := strings.CutPrefix(string(b), "# ")
	if !ok {
		return nil, fmt.Errorf("show stat answered %q", b)
	}
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	rows := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, name := range recs[0] {
			if i < len(rec) {
				row[name] = rec[i]
			}
		}
		rows[row["pxname"]+"/"+row["svname"]] = row
	}
	return rows, nil
}

// server is the backend's row for server name.
func (h *haproxy) server(t *testing.T, name string) map[string]string {
	t.Helper()
	row, ok := h.stat(t)["fleet/"+name]
	require.True(t, ok, "show stat has server %s", name)
	return row
}

// waitStatus waits until HAProxy says server name is status (UP or
// DOWN; "UP 1/2", a server going down, is neither), and returns how long
// that took.
func (h *haproxy) waitStatus(t *testing.T, name, status string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(patience)
	for {
		rows, err := h.tryStat()
		if err == nil && rows["fleet/"+name]["status"] == status {
			return time.Since(start)
		}
		select {
		case err := <-h.exited:
			h.exited <- err
			t.Fatalf("HAProxy exited (%v); it said:\n%s", err, h.said())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy did not mark %s %s within %v (last: %v, %v); it said:\n%s",
				name, status, patience, rows["fleet/"+name]["status"], err, h.said())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fleetLoad runs client loops through HAProxy, half with a new connection
// for every request, half with keep-alive, bounded in count and time, and
// counts failures by kind.
type fleetLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	ok   atomic.Int64
	step atomic.Bool // a rolling step is under way: samples are counted apart

	mu      sync.Mutex // guards the fields below
	failed  map[string]int
	first   map[string]string
	samples []latency
}

type latency struct {
	d    time.Duration
	step bool
}

func startFleetLoad(t *testing.T, target string, loops int) *fleetLoad {
	l := &fleetLoad{stop: make(chan struct{}), failed: map[string]int{}, first: map[string]string{}}
	deadline := time.Now().Add(3 * time.Minute)
	for i := range loops {
		tr := &http.Transport{DisableKeepAlives: i%2 == 0, MaxIdleConnsPerHost: 1}
		c := &http.Client{Timeout: patience, Transport: tr}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer tr.CloseIdleConnections()
			var mine []latency
			defer func() {
				l.mu.Lock()
				l.samples = append(l.samples, mine...)
				l.mu.Unlock()
			}()
			for n := 0; n < 1_000_000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				step := l.step.Load()
				start := time.Now()
				kind, msg := get(c, target)
				if kind != "" {
					l.fail(kind, msg)
					continue
				}
				mine = append(mine, latency{time.Since(start), step || l.step.Load()})
				l.ok.Add(1)
			}
		}()
	}
	return l
}

// get asks for target and says what kind of failure it met, if any: a
// status other than 200, or the transport's error.
func get(c *http.Client, target string) (kind, msg string) {
	resp, err := c.Get(target)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			return "status " + strconv.Itoa(resp.StatusCode), resp.Status
		}
	}
	var ne net.Error
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	case errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	default:
		kind = "other"
	}
	return kind, err.Error()
}

func (l *fleetLoad) fail(kind, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed[kind]++
	if _, ok := l.first[kind]; !ok {
		l.first[kind] = msg
	}
}

// waitMore waits until n more requests were answered.
func (l *fleetLoad) waitMore(t *testing.T, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	deadline := time.Now().Add(patience)
	for l.ok.Load() < target {
		require.True(t, time.Now().Before(deadline), "clients stopped being served")
		time.Sleep(time.Millisecond)
	}
}

// runFor keeps the load on for d, or the short form's minimum, checking
// that it is served.
func (l *fleetLoad) runFor(t *testing.T, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		l.waitMore(t, 50)
	}
}

// fleetFigures is what the clients saw.
type fleetFigures struct {
	ok               int64
	failed           map[string]int
	first            map[string]string
	p50, p99, max    time.Duration // outside the rolling steps
	sp50, sp99, smax time.Duration // during them
}

func (l *fleetLoad) end(t *testing.T) fleetFigures {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	f := fleetFigures{ok: l.ok.Load(), failed: l.failed, first: l.first}
	var out, in []time.Duration
	for _, s := range l.samples {
		if s.step {
			in = append(in, s.d)
		} else {
			out = append(out, s.d)
		}
	}
	f.p50, f.p99, f.max = quantiles(out)
	f.sp50, f.sp99, f.smax = quantiles(in)
	t.Logf("clients: %d answered, failed %v, p50/p99/max outside steps %v/%v/%v (%d), during steps %v/%v/%v (%d)",
		f.ok, f.failed, f.p50, f.p99, f.max, len(out), f.sp50, f.sp99, f.smax, len(in))
	assert.Empty(t, f.failed, "requests that failed, by kind (first of each: %v)", f.first)
	return f
}

func quantiles(ds []time.Duration) (p50, p99, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}

// fleetMember is one serve of the fleet: its addresses stay, the process
// serving them changes.
type fleetMember struct {
	fleetServer
	adminAddr string // host:port of the admin API
	agentAddr string // host:port of the agent check, if any
	first     *instance
	pid       int
}

// startFleet starts three serve instances on loopback ports of their
// own, with args (such as --agent 127.0.0.1:0).
func startFleet(t *testing.T, bin string, args ...string) []*fleetMember {
	t.Helper()
	var fleet []*fleetMember
	for i := 1; i <= 3; i++ {
		in := startInstance(t, bin, append([]string{"--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grace", "5s"}, args...)...)
		u, err := url.Parse(in.url)
		require.NoError(t, err)
		_, adminPort, err := net.SplitHostPort(in.admin)
		require.NoError(t, err, "serve printed its admin address")
		m := &fleetMember{fleetServer: fleetServer{Name: fmt.Sprintf("s%d", i), Addr: u.Host, Admin: adminPort},
			adminAddr: in.admin, first: in, pid: in.cmd.Process.Pid}
		if in.agent != "" {
			m.agentAddr = in.agent
			_, m.Agent, err = net.SplitHostPort(in.agent)
			require.NoError(t, err, "serve printed its agent's address")
		}
		fleet = append(fleet, m)
	}
	return fleet
}

func servers(fleet []*fleetMember) []fleetServer {
	var s []fleetServer
	for _, m := range fleet {
		s = append(s, m.fleetServer)
	}
	return s
}

// ctl runs acceptgate ctl against the member's admin API.
func (m *fleetMember) ctl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"ctl", "--admin", m.adminAddr}, args...)...).CombinedOutput()
	require.NoError(t, err, "ctl %v: %s", args, out)
	return string(out)
}

// servingPID asks the member's admin API which process serves it.
func (m *fleetMember) servingPID() (int, error) {
	c, err := control.NewClient(m.adminAddr, "")
	if err != nil {
		return 0, err
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	vs, err := c.List(ctx)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, errors.New("no gate")
	}
	return vs[0].PID, nil
}

// gone tells whether process pid has exited (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool { return gone(pid) }, patience, 5*time.Millisecond, "process %d exits", pid)
}

// counters are a server's health figures in HAProxy: how many times it
// went down, and for how many seconds in all.
func counters(t *testing.T, row map[string]string) (chkdown, downtime int) {
	t.Helper()
	chkdown, err := strconv.Atoi(row["chkdown"])
	require.NoError(t, err, "chkdown in %v", row)
	downtime, err = strconv.Atoi(row["downtime"])
	require.NoError(t, err, "downtime in %v", row)
	return chkdown, downtime
}

// frontend5xx is how many 5xx HAProxy answered its clients.
func frontend5xx(t *testing.T, h *haproxy) int {
	t.Helper()
	n, err := strconv.Atoi(h.stat(t)["web/FRONTEND"]["hrsp_5xx"])
	require.NoError(t, err)
	return n
}

// fleetLoops is the number of client loops: half fresh connections, half
// keep-alive.
const fleetLoops = 8

// fleetUnderLoad builds serve, starts the fleet with args, HAProxy in front
// of it (health-checking each instance's agent too, if agent), and the
// client loops through HAProxy, and lets them run for settle, a second or
// longSettle in the long form, which the test waits again between steps.
func fleetUnderLoad(t *testing.T, longSettle time.Duration, agent bool, args ...string) (bin string, fleet []*fleetMember, h *haproxy, load *fleetLoad, settle time.Duration) {
	t.Helper()
	bin = build(t)
	fleet = startFleet(t, bin, args...)
	h = startHAProxy(t, servers(fleet), agent)
	load = startFleetLoad(t, "http://"+h.frontend+"/", fleetLoops)
	settle = time.Second
	if longFleet() {
		settle = longSettle
	}
	load.runFor(t, settle)
	return bin, fleet, h, load, settle
}

// Each instance in turn is drained with ctl drain --grace, HAProxy takes it
// out on its failing /readyz, it shuts down on SIGTERM once the drain is
// done, and a new serve on the same ports rejoins: no client request
// fails, HAProxy answers no 5xx.
func TestFleetRollingDrainAndRestart(t *testing.T) {
	bin, fleet, h, load, settle := fleetUnderLoad(t, 4*time.Second, false)
	for _, m := range fleet {
		load.step.Store(true)
		start := time.Now()
		// The grace outlasts fall × inter (300ms) with room to spare:
		// HAProxy stops sending before the gate rejects.
		m.ctl(t, bin, "drain", "--grace", "1s")
		out := h.waitStatus(t, m.Name, "DOWN")
		m.ctl(t, bin, "drain", "--grace", "1s", "--wait", "30s")
		require.NoError(t, syscall.Kill(m.pid, syscall.SIGTERM))
		if m.first != nil {
			m.first.exitsCleanly(t)
			m.first = nil
		} else {
			waitGone(t, m.pid)
		}
		next := startInstance(t, bin, "--addr", m.Addr, "--admin", m.adminAddr, "--grace", "5s")
		m.pid = next.cmd.Process.Pid
		m.first = next
		back := h.waitStatus(t, m.Name, "UP")
		load.step.Store(false)
		_, downtime := counters(t, h.server(t, m.Name))
		t.Logf("%s: out of the pool %v after the drain, back %v after the restart; %v in all (HAProxy's downtime %ds)",
			m.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), downtime)
		load.runFor(t, settle)
	}
	load.end(t)
	assert.Zero(t, frontend5xx(t, h), "5xx HAProxy answered")
}

// Each instance in turn upgrades in place on SIGHUP, under load through
// HAProxy: no client request fails, HAProxy answers no 5xx, and it never
// marks a server down.
func TestFleetRollingUpgradeInPlace(t *testing.T) {
	_, fleet, h, load, settle := fleetUnderLoad(t, 2*time.Second, false)
	rounds := 1
	if longFleet() {
		rounds = 2
	}
	for round := 1; round <= rounds; round++ {
		for _, m := range fleet {
			load.step.Store(true)
			start := time.Now()
			old := m.pid
			require.NoError(t, syscall.Kill(old, syscall.SIGHUP))
			var pid int
			require.Eventually(t, func() bool {
				p, err := m.servingPID()
				pid = p
				return err == nil && p != old
			}, patience, 5*time.Millisecond, "%s: a new generation serves", m.Name)
			stopByPID(t, pid)
			if m.first != nil {
				m.first.exitsCleanly(t)
				m.first = nil
			} else {
				waitGone(t, old)
			}
			m.pid = pid
			load.step.Store(false)
			t.Logf("round %d, %s: process %d serves in place of %d, the old one gone %v after SIGHUP",
				round, m.Name, pid, old, time.Since(start).Round(time.Millisecond))
			load.runFor(t, settle)
		}
	}
	load.end(t)
	assert.Zero(t, frontend5xx(t, h), "5xx HAProxy answered")
	for _, m := range fleet {
		row := h.server(t, m.Name)
		chkdown, downtime := counters(t, row)
		assert.Equal(t, "UP", row["status"], m.Name)
		assert.Zero(t, chkdown, "%s: times HAProxy marked it down", m.Name)
		assert.Zero(t, downtime, "%s: seconds HAProxy had it down", m.Name)
	}
}

// One instance pauses, then rejects, behind HAProxy (its /readyz fails
// either way, and HAProxy takes it out), and resumes: with the documented
// settings no client request fails and HAProxy answers no 5xx. A request
// HAProxy sent to the paused instance before taking it out waits for the
// resume; one it sends to the rejecting instance is refused and tried
// again on another.
func TestFleetPauseAndRejectBehindHAProxy(t *testing.T) {
	bin, fleet, h, load, settle := fleetUnderLoad(t, 3*time.Second, false)
	m := fleet[1]
	for _, action := range []string{"pause", "reject"} {
		before := h.server(t, m.Name)
		load.step.Store(true)
		start := time.Now()
		m.ctl(t, bin, action, "http")
		out := h.waitStatus(t, m.Name, "DOWN")
		// Out of the pool, the instance gets no new request: the load goes
		// on at the others.
		load.waitMore(t, 200)
		m.ctl(t, bin, "resume", "http")
		back := h.waitStatus(t, m.Name, "UP")
		load.step.Store(false)
		after := h.server(t, m.Name)
		t.Logf("%s of %s: out of the pool %v after it, back %v after the resume, %v in all; HAProxy's retries %s→%s, redispatches %s→%s, connection errors %s→%s",
			action, m.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
			before["wretr"], after["wretr"], before["wredis"], after["wredis"], before["econ"], after["econ"])
		load.runFor(t, settle)
	}
	load.end(t)
	assert.Zero(t, frontend5xx(t, h), "5xx HAProxy answered")
}

// With serve --agent and HAProxy's agent-check, an operator's pause,
// reject and drain take effect in HAProxy at its next agent check, with
// no failing health check: the server goes to DRAIN (pause, drain) or
// MAINT (reject) and back to UP on resume, under load, with no request
// failed and no 5xx. An upgrade in place hands the agent's socket over
// with the others.
func TestFleetAgentCheck(t *testing.T) {
	bin, fleet, h, load, settle := fleetUnderLoad(t, 3*time.Second, true, "--agent", "127.0.0.1:0")
	m := fleet[1]
	for _, step := range []struct{ action, status string }{{"pause", "DRAIN (agent)"}, {"reject", "MAINT"}} {
		load.step.Store(true)
		start := time.Now()
		m.ctl(t, bin, step.action, "http")
		out := h.waitStatus(t, m.Name, step.status)
		load.waitMore(t, 200)
		m.ctl(t, bin, "resume", "http")
		back := h.waitStatus(t, m.Name, "UP")
		load.step.Store(false)
		t.Logf("%s of %s: %s %v after it, back UP %v after the resume, %v in all",
			step.action, m.Name, step.status, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		load.runFor(t, settle)
	}
	// HAProxy counts a MAINT in chkdown; chkfail counts failed checks.
	assert.Equal(t, "0", h.server(t, m.Name)["chkfail"], "%s: no health check failed: the agent took it out", m.Name)

	// An upgrade in place keeps the agent.
	up := fleet[0]
	old := up.pid
	require.NoError(t, syscall.Kill(old, syscall.SIGHUP))
	up.first.exitsCleanly(t)
	up.first = nil
	var pid int
	require.Eventually(t, func() bool {
		p, err := up.servingPID()
		pid = p
		return err == nil && p != old
	}, patience, 5*time.Millisecond, "%s: a new generation serves", up.Name)
	stopByPID(t, pid)
	up.pid = pid
	load.runFor(t, settle)

	// A drain: out at the next agent check, long before the grace ends.
	d := fleet[2]
	load.step.Store(true)
	start := time.Now()
	d.ctl(t, bin, "drain", "--grace", "1s")
	out := h.waitStatus(t, d.Name, "DRAIN (agent)")
	d.ctl(t, bin, "drain", "--grace", "1s", "--wait", "30s")
	require.NoError(t, syscall.Kill(d.pid, syscall.SIGTERM))
	d.first.exitsCleanly(t)
	next := startInstance(t, bin, "--addr", d.Addr, "--admin", d.adminAddr, "--agent", d.agentAddr, "--grace", "5s")
	d.first, d.pid = next, next.cmd.Process.Pid
	back := h.waitStatus(t, d.Name, "UP")
	load.step.Store(false)
	t.Logf("drain of %s: DRAIN %v after it, UP %v after the restart, %v in all", d.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	load.runFor(t, settle)

	load.end(t)
	assert.Zero(t, frontend5xx(t, h), "5xx HAProxy answered")
	for _, m := range fleet {
		row := h.server(t, m.Name)
		assert.Equal(t, "UP", row["status"], m.Name)
	}
	row := h.server(t, up.Name)
	assert.Equal(t, "0", row["chkfail"], "%s: no health check failed across the upgrade", up.Name)
	assert.Equal(t, "0", row["chkdown"], "%s: never down across the upgrade", up.Name)
}
