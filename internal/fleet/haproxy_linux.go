package fleet

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// HAProxyConfig is what HAProxyText fills in.
type HAProxyConfig struct {
	Bind        string // the frontend's bind address, such as 127.0.0.1:8080 or fd@3
	StatsSocket string // the runtime API's unix socket
	Servers     []Server
	// Agent: HAProxy asks each server's agent (serve --agent) whether to
	// send it new sessions, and checks that it lives with a connection to
	// its admin port, in place of /readyz.
	Agent bool
}

// haproxyTemplate is the configuration the fleet runs, and
// docs/operating.md shows (TestConfigsInDocs keeps them the same).
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

// HAProxyText is HAProxy's configuration for c.
func HAProxyText(c HAProxyConfig) string {
	var b strings.Builder
	if err := haproxyTemplate.Execute(&b, c); err != nil {
		panic(err)
	}
	return b.String()
}

// DocsServers are the fleet as docs/operating.md shows it.
var DocsServers = []Server{
	{"s1", "127.0.0.1:8081", "9091", "9191"},
	{"s2", "127.0.0.1:8082", "9092", "9192"},
	{"s3", "127.0.0.1:8083", "9093", "9193"},
}

// DocsHAProxy is HAProxy's configuration as docs/operating.md shows it.
var DocsHAProxy = HAProxyConfig{Bind: "127.0.0.1:8080", StatsSocket: "/run/haproxy/admin.sock", Servers: DocsServers}

// ErrNoBalancer is the error when HAProxy or nginx is not installed.
var ErrNoBalancer = errors.New("fleet: the balancer is not installed")

// HAProxyPath finds HAProxy.
func HAProxyPath() (string, error) {
	p, err := exec.LookPath("haproxy")
	if err != nil {
		return "", fmt.Errorf("%w: haproxy (Debian: apt-get install haproxy): %w", ErrNoBalancer, err)
	}
	return p, nil
}

// HAProxy is a running HAProxy, in the foreground (-db).
type HAProxy struct {
	cmd        *exec.Cmd
	exited     chan error
	dir        string
	sock       string // the runtime API
	stderrPath string
	frontend   string // host:port clients connect to
}

// StartHAProxy runs bin (HAProxy) with the fleet's configuration for
// servers, its frontend on a listener made here on 127.0.0.1 (passed as
// fd 3: no port to guess), and waits until every server is UP. Close
// stops it.
func StartHAProxy(bin string, servers []Server, agent bool) (_ *HAProxy, err error) {
	// A short directory of its own: a unix socket's path must fit in 108
	// bytes.
	dir, err := os.MkdirTemp("", "fleet")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	fe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer fe.Close() // HAProxy has its own copy
	feFile, err := fe.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer feFile.Close()
	h := &HAProxy{dir: dir, sock: filepath.Join(dir, "haproxy.sock"), exited: make(chan error, 1), frontend: fe.Addr().String()}
	cfg := HAProxyText(HAProxyConfig{Bind: "fd@3", StatsSocket: h.sock, Servers: servers, Agent: agent})
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	h.stderrPath = stderr.Name()
	h.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = stderr, stderr
	h.cmd.ExtraFiles = []*os.File{feFile}
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { h.exited <- h.cmd.Wait() }()
	for _, s := range servers {
		if _, err := h.WaitStatus(s.Name, "UP"); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// Frontend is the host:port clients connect to.
func (h *HAProxy) Frontend() string { return h.frontend }

// Close kills HAProxy, waits for it and removes its directory.
func (h *HAProxy) Close() {
	h.cmd.Process.Kill()
	err := <-h.exited
	h.exited <- err
	os.RemoveAll(h.dir)
}

// Said is what HAProxy wrote, for a failure's message.
func (h *HAProxy) Said() string {
	b, _ := os.ReadFile(h.stderrPath)
	return string(b)
}

// Stat asks HAProxy's runtime API for "show stat": one row for each
// proxy and server, keyed "pxname/svname", each a map of the CSV's columns.
func (h *HAProxy) Stat() (map[string]map[string]string, error) {
	c, err := net.DialTimeout("unix", h.sock, Patience)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(Patience))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	text, ok := strings.CutPrefix(string(b), "# ")
	if !ok {
		return nil, fmt.Errorf("fleet: HAProxy's show stat answered %q", b)
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

// Server is the backend's row for server name.
func (h *HAProxy) Server(name string) (map[string]string, error) {
	rows, err := h.Stat()
	if err != nil {
		return nil, fmt.Errorf("fleet: show stat: %w; HAProxy said:\n%s", err, h.Said())
	}
	row, ok := rows["fleet/"+name]
	if !ok {
		return nil, fmt.Errorf("fleet: show stat has no server %s", name)
	}
	return row, nil
}

// Frontend5xx is how many 5xx HAProxy answered its clients.
func (h *HAProxy) Frontend5xx() (int, error) {
	rows, err := h.Stat()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(rows["web/FRONTEND"]["hrsp_5xx"])
}

// WaitStatus waits until HAProxy says server name is status (UP or
// DOWN; "UP 1/2", a server going down, is neither), and returns how long
// that took.
func (h *HAProxy) WaitStatus(name, status string) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(Patience)
	for {
		rows, err := h.Stat()
		if err == nil && rows["fleet/"+name]["status"] == status {
			return time.Since(start), nil
		}
		select {
		case err := <-h.exited:
			h.exited <- err
			return 0, fmt.Errorf("fleet: HAProxy exited (%v); it said:\n%s", err, h.Said())
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("fleet: HAProxy did not mark %s %s within %v (last: %v, %v); it said:\n%s",
				name, status, Patience, rows["fleet/"+name]["status"], err, h.Said())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pool is the time each server spent out of a balancer's pool, as
// watched.
type Pool struct {
	Out   map[string]time.Duration // by server name
	Times map[string]int           // how many times it left the pool
}

// PoolWatch polls HAProxy's status of each server until Stop.
type PoolWatch struct {
	stop chan struct{}
	done chan Pool
}

// WatchPool polls HAProxy's "show stat" every 10ms and adds up the time
// each server is out of the pool: not UP (DOWN, DOWN 1/2, MAINT, DRAIN;
// "UP 1/2", a server failing its checks, still gets requests).
func (h *HAProxy) WatchPool() *PoolWatch {
	w := &PoolWatch{stop: make(chan struct{}), done: make(chan Pool, 1)}
	go func() {
		p := Pool{Out: map[string]time.Duration{}, Times: map[string]int{}}
		out := map[string]bool{}
		last := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				w.done <- p
				return
			case <-tick.C:
			}
			rows, err := h.Stat()
			now := time.Now()
			if err != nil {
				continue // the last known status stands
			}
			for name, wasOut := range out {
				if wasOut {
					p.Out[name] += now.Sub(last)
				}
			}
			last = now
			for key, row := range rows {
				name, ok := strings.CutPrefix(key, "fleet/")
				if !ok || name == "BACKEND" {
					continue
				}
				isOut := !strings.HasPrefix(row["status"], "UP")
				if isOut && !out[name] {
					p.Times[name]++
				}
				out[name] = isOut
			}
		}
	}()
	return w
}

// Stop ends the watch and returns what it saw.
func (w *PoolWatch) Stop() Pool {
	close(w.stop)
	return <-w.done
}
