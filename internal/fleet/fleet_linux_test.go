package fleet

import (
	"context"
	"flag"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The fleet tests: three serve instances behind a real HAProxy, which
// health-checks each one's /readyz, under load through HAProxy; the rolling
// steps an operator runs (a drain and restart, an upgrade in place, a pause
// or reject of one instance) lose no request. The same behind nginx.
// docs/operating.md ("Behind a load balancer") shows the configurations and
// the figures of one run.

var fleetLong = flag.Bool("fleet.long", false, "fleet tests: the long form (20 s of load, two upgrades of each instance); also ACCEPTGATE_FLEET_LONG=1")

func longFleet() bool { return *fleetLong || os.Getenv("ACCEPTGATE_FLEET_LONG") == "1" }

var (
	buildOnce sync.Once
	buildDir  string
	built     string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// serveBin is acceptgate, built once for the package's tests, or
// $ACCEPTGATE_BIN, built already for a run as another user (.ci/run).
func serveBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ACCEPTGATE_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "fleet-bin"); buildErr == nil {
			built, buildErr = BuildServe(context.Background(), buildDir)
		}
	})
	require.NoError(t, buildErr)
	return built
}

// need finds a balancer, or skips: CI, which installs them, sets
// ACCEPTGATE_REQUIRE_HAPROXY=1 (and _NGINX) so that a missing one fails
// instead.
func need(t *testing.T, find func() (string, error), env string) string {
	t.Helper()
	p, err := find()
	if err != nil {
		if os.Getenv(env) == "1" {
			t.Fatalf("%v, and %s=1", err, env)
		}
		t.Skip(err)
	}
	return p
}

func haproxyPath(t *testing.T) string { return need(t, HAProxyPath, "ACCEPTGATE_REQUIRE_HAPROXY") }
func nginxPath(t *testing.T) string   { return need(t, NginxPath, "ACCEPTGATE_REQUIRE_NGINX") }

// The docs show the configurations the fleet runs, byte for byte.
func TestConfigsInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operating.md")
	require.NoError(t, err)
	// Not assert.Contains: it would print the whole page.
	cfg := HAProxyText(DocsHAProxy)
	assert.True(t, strings.Contains(string(doc), "```\n"+cfg+"```\n"),
		"docs/operating.md shows HAProxyText(DocsHAProxy) exactly:\n%s", cfg)
	agent := DocsHAProxy
	agent.Agent = true
	cfg = HAProxyText(agent)
	backend := cfg[strings.Index(cfg, "\nbackend fleet")+1:]
	assert.True(t, strings.Contains(string(doc), "```\n"+backend+"```\n"),
		"docs/operating.md shows the backend of the agent's HAProxyText exactly:\n%s", backend)
	cfg = NginxText(DocsNginx)
	assert.True(t, strings.Contains(string(doc), "```\n"+cfg+"```\n"),
		"docs/operating.md shows NginxText(DocsNginx) exactly:\n%s", cfg)
}

// under is a fleet behind HAProxy under load, for one test.
type under struct {
	t      *testing.T
	fleet  *Fleet
	h      *HAProxy
	load   *Load
	settle time.Duration
	// endLoad ends the load, once.
	endLoad func() Figures
}

// fleetUnderLoad starts the fleet with args, HAProxy in front of it
// (health-checking each instance's agent too, if agent), and the client
// loops through HAProxy, and lets them run for settle, a second or
// longSettle in the long form, which the test waits again between steps.
// Everything stops when the test ends.
func fleetUnderLoad(t *testing.T, longSettle time.Duration, agent bool, args ...string) *under {
	t.Helper()
	hp := haproxyPath(t)
	f, err := StartFleet(serveBin(t), t.TempDir(), 3, args...)
	require.NoError(t, err)
	t.Cleanup(f.Close)
	h, err := StartHAProxy(hp, f.Servers(), agent)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	u := &under{t: t, fleet: f, h: h, load: StartLoad("http://"+h.Frontend()+"/", 8, 3*time.Minute), settle: time.Second}
	if longFleet() {
		u.settle = longSettle
	}
	ended := false
	t.Cleanup(func() {
		if !ended {
			u.load.End()
		}
	})
	u.endLoad = func() Figures { ended = true; return u.load.End() }
	u.runFor(u.settle)
	return u
}

func (u *under) runFor(d time.Duration) {
	u.t.Helper()
	require.NoError(u.t, u.load.RunFor(d))
}

func (u *under) waitStatus(name, status string) time.Duration {
	u.t.Helper()
	d, err := u.h.WaitStatus(name, status)
	require.NoError(u.t, err)
	return d
}

func (u *under) server(name string) map[string]string {
	u.t.Helper()
	row, err := u.h.Server(name)
	require.NoError(u.t, err)
	return row
}

func (u *under) ctl(m *Member, args ...string) {
	u.t.Helper()
	_, err := m.Ctl(args...)
	require.NoError(u.t, err)
}

// end stops the clients and checks that none failed and HAProxy answered
// no 5xx.
func (u *under) end() Figures {
	u.t.Helper()
	f := u.endLoad()
	u.t.Logf("clients: %v", f)
	assert.Empty(u.t, f.Failed, "requests that failed, by kind (first of each: %v)", f.First)
	n, err := u.h.Frontend5xx()
	require.NoError(u.t, err)
	assert.Zero(u.t, n, "5xx HAProxy answered")
	return f
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

// Each instance in turn is drained with ctl drain --grace, HAProxy takes it
// out on its failing /readyz, it shuts down on SIGTERM once the drain is
// done, and a new serve on the same ports rejoins: no client request
// fails, HAProxy answers no 5xx.
func TestRollingDrainAndRestart(t *testing.T) {
	u := fleetUnderLoad(t, 4*time.Second, false)
	// The grace outlasts fall × inter (300ms) with room to spare: HAProxy
	// stops sending before the gate rejects.
	const grace = time.Second
	for _, m := range u.fleet.Members {
		u.load.Step(StepDrain)
		start := time.Now()
		require.NoError(t, m.Drain(grace))
		out := u.waitStatus(m.Name, "DOWN")
		require.NoError(t, m.Stop(grace))
		require.NoError(t, m.Restart())
		back := u.waitStatus(m.Name, "UP")
		u.load.EndStep()
		_, downtime := counters(t, u.server(m.Name))
		t.Logf("%s: out of the pool %v after the drain, back %v after the restart; %v in all (HAProxy's downtime %ds)",
			m.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), downtime)
		u.runFor(u.settle)
	}
	u.end()
}

// Each instance in turn upgrades in place on SIGHUP, under load through
// HAProxy: no client request fails, HAProxy answers no 5xx, and it never
// marks a server down.
func TestRollingUpgradeInPlace(t *testing.T) {
	u := fleetUnderLoad(t, 2*time.Second, false)
	rounds := 1
	if longFleet() {
		rounds = 2
	}
	for round := 1; round <= rounds; round++ {
		for _, m := range u.fleet.Members {
			u.load.Step(StepUpgrade)
			start := time.Now()
			old := m.PID
			require.NoError(t, m.Upgrade())
			u.load.EndStep()
			t.Logf("round %d, %s: process %d serves in place of %d, the old one gone %v after SIGHUP",
				round, m.Name, m.PID, old, time.Since(start).Round(time.Millisecond))
			u.runFor(u.settle)
		}
	}
	u.end()
	for _, m := range u.fleet.Members {
		row := u.server(m.Name)
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
func TestPauseAndRejectBehindHAProxy(t *testing.T) {
	u := fleetUnderLoad(t, 3*time.Second, false)
	m := u.fleet.Members[1]
	for _, action := range []string{StepPause, StepReject} {
		before := u.server(m.Name)
		u.load.Step(action)
		start := time.Now()
		u.ctl(m, action, "http")
		out := u.waitStatus(m.Name, "DOWN")
		// Out of the pool, the instance gets no new request: the load goes
		// on at the others.
		require.NoError(t, u.load.WaitMore(200))
		u.ctl(m, "resume", "http")
		back := u.waitStatus(m.Name, "UP")
		u.load.EndStep()
		after := u.server(m.Name)
		t.Logf("%s of %s: out of the pool %v after it, back %v after the resume, %v in all; HAProxy's retries %s→%s, redispatches %s→%s, connection errors %s→%s",
			action, m.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
			before["wretr"], after["wretr"], before["wredis"], after["wredis"], before["econ"], after["econ"])
		u.runFor(u.settle)
	}
	u.end()
}

// With serve --agent and HAProxy's agent-check, an operator's pause,
// reject and drain take effect in HAProxy at its next agent check, with
// no failing health check: the server goes to DRAIN (pause, drain) or
// MAINT (reject) and back to UP on resume, under load, with no request
// failed and no 5xx. An upgrade in place hands the agent's socket over
// with the others.
func TestAgentCheck(t *testing.T) {
	u := fleetUnderLoad(t, 3*time.Second, true, "--agent", "127.0.0.1:0")
	m := u.fleet.Members[1]
	for _, step := range []struct{ action, status string }{{StepPause, "DRAIN (agent)"}, {StepReject, "MAINT"}} {
		u.load.Step(step.action)
		start := time.Now()
		u.ctl(m, step.action, "http")
		out := u.waitStatus(m.Name, step.status)
		require.NoError(t, u.load.WaitMore(200))
		u.ctl(m, "resume", "http")
		back := u.waitStatus(m.Name, "UP")
		u.load.EndStep()
		t.Logf("%s of %s: %s %v after it, back UP %v after the resume, %v in all",
			step.action, m.Name, step.status, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		u.runFor(u.settle)
	}
	// HAProxy counts a MAINT in chkdown; chkfail counts failed checks.
	assert.Equal(t, "0", u.server(m.Name)["chkfail"], "%s: no health check failed: the agent took it out", m.Name)

	// An upgrade in place keeps the agent.
	up := u.fleet.Members[0]
	require.NoError(t, up.Upgrade())
	u.runFor(u.settle)

	// A drain: out at the next agent check, long before the grace ends.
	d := u.fleet.Members[2]
	u.load.Step(StepDrain)
	start := time.Now()
	require.NoError(t, d.Drain(time.Second))
	out := u.waitStatus(d.Name, "DRAIN (agent)")
	require.NoError(t, d.Stop(time.Second))
	require.NoError(t, d.Restart())
	back := u.waitStatus(d.Name, "UP")
	u.load.EndStep()
	t.Logf("drain of %s: DRAIN %v after it, UP %v after the restart, %v in all", d.Name, out.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	u.runFor(u.settle)

	u.end()
	for _, m := range u.fleet.Members {
		assert.Equal(t, "UP", u.server(m.Name)["status"], m.Name)
	}
	row := u.server(up.Name)
	assert.Equal(t, "0", row["chkfail"], "%s: no health check failed across the upgrade", up.Name)
	assert.Equal(t, "0", row["chkdown"], "%s: never down across the upgrade", up.Name)
}

// Behind nginx, which checks passively only: an upgrade in place, a
// drain and restart, a pause and a reject of one instance lose no client
// request. nginx sends the drained instance requests through its grace,
// then its connections are refused and nginx tries the next server; the
// paused one's requests wait for the resume.
func TestNginxLosesNoOne(t *testing.T) {
	np := nginxPath(t)
	e := Experiment{Balancer: NginxLB, BalancerBin: np, Serve: serveBin(t), Dir: t.TempDir(),
		Duration: 4 * time.Second, Clients: 8, Upgrades: 1, Drains: 1, Grace: 300 * time.Millisecond,
		Pause: 300 * time.Millisecond, Reject: 300 * time.Millisecond, Log: t.Logf}
	if longFleet() {
		e.Duration, e.Upgrades, e.Grace, e.Pause, e.Reject = 20*time.Second, 2, time.Second, time.Second, time.Second
	}
	res, err := e.Run(context.Background())
	require.NoError(t, err)
	t.Logf("clients: %v; nginx took servers out %v", res.Figures, res.Pool.Times)
	assert.Empty(t, res.Failed, "requests that failed, by kind (first of each: %v); nginx said:\n%s", res.First, res.Said)
	assert.Len(t, res.Steps, 3*e.Upgrades+3*e.Drains+2)
}

// Fleet.Close ends a generation an upgrade started, which is no child of
// the caller's.
func TestCloseEndsUpgradedGenerations(t *testing.T) {
	f, err := StartFleet(serveBin(t), t.TempDir(), 1)
	require.NoError(t, err)
	defer f.Close()
	m := f.Members[0]
	require.NoError(t, m.Upgrade())
	require.False(t, gone(m.PID))
	f.Close()
	assert.True(t, gone(m.PID), "the upgraded generation %d ended", m.PID)
}
