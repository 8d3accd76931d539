package fleet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// NginxConfig is what NginxText fills in.
type NginxConfig struct {
	Listen  string // the frontend's address, such as 127.0.0.1:8080
	Dir     string // where nginx keeps its pid file, logs and temporary files
	Servers []Server
	// MaxFails and FailTimeout are each server's max_fails and
	// fail_timeout: 0 and "" are what the fleet runs (max_fails=0, no
	// fail_timeout); nginx's defaults are 1 and 10s.
	MaxFails    int
	FailTimeout string
}

// nginxTemplate is the configuration the fleet runs behind nginx, and
// docs/operating.md shows (TestConfigsInDocs keeps them the same).
var nginxTemplate = template.Must(template.New("nginx.conf").Parse(`daemon off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    upstream fleet {
        # Open-source nginx checks passively only. max_fails=0: a
        # failed request takes no server out, nginx sends it to the
        # next server (proxy_next_upstream). By default (max_fails=1
        # fail_timeout=10s) one failed request takes a server out for
        # 10s: a drain does, an upgrade in place may, and rolling
        # steps closer than that leave no server (502 to everyone).
{{- range .Servers}}
        server {{.Addr}} max_fails={{$.MaxFails}}{{if $.FailTimeout}} fail_timeout={{$.FailTimeout}}{{end}};
{{- end}}
        keepalive 16;
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://fleet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # A rejecting or stopped server refuses the connection,
            # and a closing one may drop a kept-alive connection:
            # nginx sends the request to the next server. A paused
            # server's kernel completes the handshake, so its
            # requests wait for the resume (up to proxy_read_timeout,
            # 60s by default, then the next server).
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            # Bounds only a full accept queue.
            proxy_connect_timeout 250ms;
        }
    }
}
`))

// NginxText is nginx's configuration for c.
func NginxText(c NginxConfig) string {
	var b strings.Builder
	if err := nginxTemplate.Execute(&b, c); err != nil {
		panic(err)
	}
	return b.String()
}

// DocsNginx is nginx's configuration as docs/operating.md shows it.
var DocsNginx = NginxConfig{Listen: "127.0.0.1:8080", Dir: "/var/lib/fleet-nginx", Servers: DocsServers}

// NginxPath finds nginx.
func NginxPath() (string, error) {
	p, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			return "/usr/sbin/nginx", nil
		}
		return "", fmt.Errorf("%w: nginx (Debian: apt-get install nginx): %w", ErrNoBalancer, err)
	}
	return p, nil
}

// Nginx is a running nginx, not a daemon, the caller's child.
type Nginx struct {
	cmd      *exec.Cmd
	exited   chan error
	dir      string
	frontend string
	servers  []Server
	Config   string // the configuration it runs
}

// StartNginx runs bin (nginx) in front of c.Servers with the fleet's
// configuration (c's Listen and Dir are set here) in a directory of its own, its frontend on a listener
// made here on 127.0.0.1 and inherited the way nginx hands its sockets to
// a new binary (fd 3, named in $NGINX: no port to guess), and waits until
// it answers. Close stops it.
func StartNginx(bin string, c NginxConfig) (_ *Nginx, err error) {
	dir, err := os.MkdirTemp("", "fleet-nginx")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	// nginx's workers run as nobody when it is started as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	fe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer fe.Close()
	feFile, err := fe.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer feFile.Close()
	n := &Nginx{dir: dir, exited: make(chan error, 1), frontend: fe.Addr().String(), servers: c.Servers}
	c.Listen, c.Dir = n.frontend, dir
	n.Config = NginxText(c)
	cfgPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfgPath, []byte(n.Config), 0o644); err != nil {
		return nil, err
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	// -e: the error log before the configuration is read (else
	// /var/log/nginx/error.log); -p: the prefix for relative paths.
	n.cmd = exec.Command(bin, "-p", dir, "-c", cfgPath, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Env = append(os.Environ(), "NGINX=3;")
	n.cmd.Stdout, n.cmd.Stderr = stderr, stderr
	n.cmd.ExtraFiles = []*os.File{feFile}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.exited <- n.cmd.Wait() }()
	deadline := time.Now().Add(Patience)
	for {
		if kind, _ := probe("http://" + n.frontend + "/"); kind == "" {
			return n, nil
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			return nil, fmt.Errorf("fleet: nginx exited (%v); it said:\n%s", err, n.Said())
		default:
		}
		if time.Now().After(deadline) {
			n.Close()
			return nil, fmt.Errorf("fleet: nginx did not answer within %v; it said:\n%s", Patience, n.Said())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Frontend is the host:port clients connect to.
func (n *Nginx) Frontend() string { return n.frontend }

// Said is what nginx wrote to stderr and its error log.
func (n *Nginx) Said() string {
	a, _ := os.ReadFile(filepath.Join(n.dir, "stderr"))
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(a) + string(b)
}

// Disabled counts, by server name, the times nginx's error log says it
// took a server out ("upstream server temporarily disabled").
func (n *Nginx) Disabled() map[string]int {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	times := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "upstream server temporarily disabled") {
			continue
		}
		for _, s := range n.servers {
			if strings.Contains(line, `upstream: "http://`+s.Addr+`/`) {
				times[s.Name]++
			}
		}
	}
	return times
}

// Close stops nginx, waits for it and removes its directory. SIGINT, its
// fast shutdown, ends the workers too; SIGKILL, after Patience, would end
// the master only.
func (n *Nginx) Close() {
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-n.exited:
		n.exited <- err
	case <-time.After(Patience):
		n.cmd.Process.Kill()
		err := <-n.exited
		n.exited <- err
	}
	os.RemoveAll(n.dir)
}
