package control

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a Handler's API.
type Client struct {
	base   string // http://host:port, without a trailing slash
	token  string
	reason string // sent with every change, for the server's log
	http   *http.Client
}

// APIError is an error answer from the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// A ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	tls    *tls.Config
	reason string
}

// WithReason sets the reason sent with every change the Client asks for,
// which the server logs beside who asked, such as the name of the tool.
func WithReason(reason string) ClientOption {
	return func(c *clientConfig) { c.reason = reason }
}

// WithClientTLS sets the TLS configuration for an https:// admin URL, such
// as the RootCAs that signed the server's certificate. The default trusts
// the system's roots.
func WithClientTLS(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tls = cfg }
}

// NewClient returns a client for the API at admin: an http:// or https://
// URL, a host:port, or a unix socket path (anything containing a '/' that is
// not a URL). token may be empty; it is sent only in the Authorization
// header, and no error of the Client contains it.
func NewClient(admin, token string, opts ...ClientOption) (*Client, error) {
	var cfg clientConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{token: token, reason: cfg.reason, http: &http.Client{Timeout: 30 * time.Second}}
	if cfg.tls != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.tls.Clone()
		c.http.Transport = tr
	}
	switch {
	case strings.HasPrefix(admin, "http://"), strings.HasPrefix(admin, "https://"):
		u, err := url.Parse(admin)
		if err != nil {
			return nil, fmt.Errorf("control: admin URL: %w", err)
		}
		c.base = strings.TrimSuffix(u.String(), "/")
	case isPath(admin):
		c.base = "http://unix"
		c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", admin)
			if err != nil {
				return nil, err
			}
			// Another user may have taken the path: tell it nothing, the
			// token least of all, and believe none of its answers.
			if err := checkServer(conn, admin); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		}}
	default:
		if _, _, err := net.SplitHostPort(admin); err != nil {
			return nil, fmt.Errorf("control: admin address %q: want a URL, host:port or socket path", admin)
		}
		c.base = "http://" + admin
	}
	return c, nil
}

// List returns every gate.
func (c *Client) List(ctx context.Context) ([]View, error) {
	var vs []View
	return vs, c.do(ctx, http.MethodGet, "/v1/listeners", &vs)
}

// Get returns the gate called name.
func (c *Client) Get(ctx context.Context, name string) (View, error) {
	var v View
	return v, c.do(ctx, http.MethodGet, "/v1/listeners/"+url.PathEscape(name), &v)
}

// Change applies action ("pause", "reject" or "resume") to the gate called
// name, or to every gate if name is empty, and returns their new views.
func (c *Client) Change(ctx context.Context, action, name string) ([]View, error) {
	if _, ok := actions[action]; !ok {
		return nil, fmt.Errorf("control: unknown action %q", action)
	}
	if name == "" {
		var vs []View
		return vs, c.do(ctx, http.MethodPost, "/v1/"+action, &vs)
	}
	var v View
	err := c.do(ctx, http.MethodPost, "/v1/listeners/"+url.PathEscape(name)+"/"+action, &v)
	return []View{v}, err
}

// Drain asks the server to drain (see Handler.Drain): /readyz fails at
// once, and the gates reject after grace. It returns the drain's status.
func (c *Client) Drain(ctx context.Context, grace time.Duration) (DrainStatus, error) {
	var st DrainStatus
	return st, c.do(ctx, http.MethodPost, "/v1/drain?grace="+url.QueryEscape(grace.String()), &st)
}

// DrainStatus returns how the server's drain goes.
func (c *Client) DrainStatus(ctx context.Context) (DrainStatus, error) {
	var st DrainStatus
	return st, c.do(ctx, http.MethodGet, "/v1/drain", &st)
}

// Ready reports whether /readyz answers 200.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	err := c.do(ctx, http.MethodGet, "/readyz", nil)
	if ae := (*APIError)(nil); errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return false, nil
	}
	return err == nil, err
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	var body io.Reader
	if method == http.MethodPost {
		b, err := json.Marshal(Request{Reason: c.reason})
		if err != nil {
			return fmt.Errorf("control: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("control: answer: %w", err)
	}
	return nil
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
