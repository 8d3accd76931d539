package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Balancers the experiment runs behind.
const (
	HAProxyLB = "haproxy"
	NginxLB   = "nginx"
)

// Step kinds, as Figures.Steps and Result.Steps name them.
const (
	StepUpgrade = "upgrade" // SIGHUP: an upgrade in place
	StepDrain   = "drain"   // ctl drain --grace, SIGTERM, a new process on the same ports
	StepPause   = "pause"   // ctl pause http, then resume
	StepReject  = "reject"  // ctl reject http, then resume
)

// Experiment is the combined experiment: a fleet of three behind a
// balancer, under load, each instance upgraded in place Upgrades times
// and drained and restarted Drains times, one after the other, spread
// over Duration; then, if asked, one instance paused and one rejecting.
type Experiment struct {
	Balancer    string // HAProxyLB or NginxLB
	BalancerBin string // the balancer's binary; "" finds it
	Serve       string // the acceptgate binary (BuildServe)
	Dir         string // for what the instances write
	Duration    time.Duration
	Clients     int           // client loops, half with a new connection for every request, half kept alive
	Upgrades    int           // upgrades in place of each instance
	Drains      int           // drains and restarts of each instance
	Grace       time.Duration // of each drain; behind HAProxy, longer than fall x inter (300ms)
	Pause       time.Duration // how long s2 pauses, after the rolling steps; 0: no pause
	Reject      time.Duration // how long s2 rejects, after that; 0: no reject
	// NginxMaxFails and NginxFailTimeout: behind nginx, each server's
	// max_fails and fail_timeout (NginxConfig).
	NginxMaxFails    int
	NginxFailTimeout string
	// Log, if not nil, is told of each step as it ends.
	Log func(format string, args ...any) `json:"-"`
}

// StepRecord is one step as it ran.
type StepRecord struct {
	Kind   string
	Server string
	Took   time.Duration // from its start until the instance serves again, and is back in the pool
	Out    time.Duration // behind HAProxy: from its start until HAProxy marked it out (0 if it did not wait for that)
}

// Result is what one run of the experiment saw.
type Result struct {
	Experiment
	Figures
	Elapsed time.Duration
	// BalancerSaid5xx is what the balancer counted of 5xx to its clients
	// (HAProxy's frontend hrsp_5xx); -1 where it does not tell (nginx).
	BalancerSaid5xx int
	Pool            Pool // time out of the pool (HAProxy), or times disabled (nginx: Times only)
	Steps           []StepRecord
	Config          string // the balancer's configuration that ran
	// Said is the end of what the balancer logged, if a request failed.
	Said string
}

// balancer is what the experiment needs of HAProxy or nginx.
type balancer interface {
	Frontend() string
	Close()
}

// Run runs the experiment. Everything it starts is stopped before it
// returns; the figures so far come back with an error.
func (e Experiment) Run(ctx context.Context) (res Result, err error) {
	res = Result{Experiment: e, BalancerSaid5xx: -1}
	bin := e.BalancerBin
	if bin == "" {
		switch e.Balancer {
		case HAProxyLB:
			bin, err = HAProxyPath()
		case NginxLB:
			bin, err = NginxPath()
		default:
			err = fmt.Errorf("fleet: unknown balancer %q (want %s or %s)", e.Balancer, HAProxyLB, NginxLB)
		}
		if err != nil {
			return res, err
		}
	}
	f, err := StartFleet(e.Serve, e.Dir, 3)
	if err != nil {
		return res, err
	}
	defer f.Close()
	var lb balancer
	var h *HAProxy
	var n *Nginx
	switch e.Balancer {
	case HAProxyLB:
		if h, err = StartHAProxy(bin, f.Servers(), false); err != nil {
			return res, err
		}
		lb = h
		res.Config = HAProxyText(HAProxyConfig{Bind: "fd@3", StatsSocket: h.sock, Servers: f.Servers()})
	case NginxLB:
		if n, err = StartNginx(bin, NginxConfig{Servers: f.Servers(), MaxFails: e.NginxMaxFails, FailTimeout: e.NginxFailTimeout}); err != nil {
			return res, err
		}
		lb = n
		res.Config = n.Config
	default:
		return res, fmt.Errorf("fleet: unknown balancer %q (want %s or %s)", e.Balancer, HAProxyLB, NginxLB)
	}
	defer lb.Close()
	var watch *PoolWatch
	if h != nil {
		watch = h.WatchPool()
	}
	load := StartLoad("http://"+lb.Frontend()+"/", e.Clients, e.Duration+5*time.Minute)
	start := time.Now()
	defer func() {
		res.Elapsed = time.Since(start)
		res.Figures = load.End()
		if watch != nil {
			res.Pool = watch.Stop()
		}
		if h != nil {
			if k, herr := h.Frontend5xx(); herr == nil {
				res.BalancerSaid5xx = k
			}
		}
		if n != nil {
			res.Pool = Pool{Times: n.Disabled()}
		}
		if res.Failures() > 0 {
			res.Said = saidBriefly(h, n)
		}
	}()

	type step struct {
		kind string
		m    *Member
	}
	var plan []step
	for r := range max(e.Upgrades, e.Drains) {
		for _, kind := range []string{StepUpgrade, StepDrain} {
			if (kind == StepUpgrade && r < e.Upgrades) || (kind == StepDrain && r < e.Drains) {
				for _, m := range f.Members {
					plan = append(plan, step{kind, m})
				}
			}
		}
	}
	if e.Pause > 0 {
		plan = append(plan, step{StepPause, f.Members[1]})
	}
	if e.Reject > 0 {
		plan = append(plan, step{StepReject, f.Members[1]})
	}
	// The steps are spread over the run: step i starts at
	// Duration*(i+1)/(len(plan)+1), or as soon as the one before ends.
	wait := func(until time.Time) error {
		for time.Now().Before(until) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := load.WaitMore(50); err != nil {
				return err
			}
		}
		return nil
	}
	for i, s := range plan {
		at := start.Add(e.Duration * time.Duration(i+1) / time.Duration(len(plan)+1))
		if err := wait(at); err != nil {
			return res, err
		}
		rec, err := e.runStep(ctx, s.kind, s.m, h, load)
		res.Steps = append(res.Steps, rec)
		if err != nil {
			return res, err
		}
		if e.Log != nil {
			e.Log("%s of %s: %v", rec.Kind, rec.Server, rec.Took.Round(time.Millisecond))
		}
	}
	// At least a moment outside the steps after the last one.
	end := start.Add(e.Duration)
	if soon := time.Now().Add(500 * time.Millisecond); soon.After(end) {
		end = soon
	}
	if err := wait(end); err != nil {
		return res, err
	}
	return res, nil
}

// runStep runs one step on m, the load told of it while it runs.
func (e Experiment) runStep(ctx context.Context, kind string, m *Member, h *HAProxy, load *Load) (rec StepRecord, err error) {
	rec = StepRecord{Kind: kind, Server: m.Name}
	load.Step(kind)
	defer load.EndStep()
	start := time.Now()
	defer func() { rec.Took = time.Since(start) }()
	waitUp := func() error {
		if h == nil {
			return nil
		}
		_, err := h.WaitStatus(m.Name, "UP")
		return err
	}
	hold := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	switch kind {
	case StepUpgrade:
		if err := m.Upgrade(); err != nil {
			return rec, err
		}
		return rec, waitUp()
	case StepDrain:
		if err := m.Drain(e.Grace); err != nil {
			return rec, err
		}
		// Behind HAProxy, out of the pool before the gate rejects: the
		// grace outlasts fall x inter. nginx never learns of the drain
		// but from the refused connections once the grace is over.
		if h != nil {
			if _, err := h.WaitStatus(m.Name, "DOWN"); err != nil {
				return rec, err
			}
			rec.Out = time.Since(start)
		}
		if err := m.Stop(e.Grace); err != nil {
			return rec, err
		}
		if err := m.Restart(); err != nil {
			return rec, err
		}
		return rec, waitUp()
	case StepPause, StepReject:
		d := e.Pause
		if kind == StepReject {
			d = e.Reject
		}
		if _, err := m.Ctl(kind, "http"); err != nil {
			return rec, err
		}
		if err := hold(d); err != nil {
			return rec, err
		}
		if _, err := m.Ctl("resume", "http"); err != nil {
			return rec, err
		}
		return rec, waitUp()
	}
	return rec, fmt.Errorf("fleet: unknown step %q", kind)
}

// saidBriefly is the start of what the balancer logged, without nginx's
// "no live upstreams" lines, only counted: one for each request it
// answered 502 as all its servers were out.
func saidBriefly(h *HAProxy, n *Nginx) string {
	var said string
	if h != nil {
		said = h.Said()
	} else {
		said = n.Said()
	}
	var b strings.Builder
	none := 0
	for _, line := range strings.Split(said, "\n") {
		if strings.Contains(line, "no live upstreams") {
			none++
			continue
		}
		if b.Len() < 8000 {
			b.WriteString(line + "\n")
		}
	}
	if none > 0 {
		fmt.Fprintf(&b, "(and %d lines of \"no live upstreams\")\n", none)
	}
	return b.String()
}
