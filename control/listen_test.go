package control_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate"
	"github.com/acceptgate/acceptgate/control"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acceptgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestListenAdminServesTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	var logged bytes.Buffer
	h, gates := fixture(t, control.WithToken(token), control.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	ln, err := control.ListenAdmin(context.Background(), "127.0.0.1:0", h, &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)} // the plain client's handshake error
	go srv.Serve(ln)
	defer srv.Close()

	c, err := control.NewClient("https://"+ln.Addr().String(), token, control.WithClientTLS(&tls.Config{RootCAs: pool}))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.Change(context.Background(), "pause", "web")
	require.NoError(t, err)
	assert.Equal(t, acceptgate.Paused, gates["web"].State())

	plain, err := control.NewClient("http://"+ln.Addr().String(), token)
	require.NoError(t, err)
	defer plain.CloseIdleConnections()
	_, err = plain.List(context.Background())
	assert.Error(t, err, "no plain HTTP on a TLS admin")
	assert.NotContains(t, logged.String(), "in clear")
}

func TestListenAdminRefusesAUselessTLSConfig(t *testing.T) {
	ctx := context.Background()
	h := control.NewHandler(control.WithToken(token), quiet)
	_, err := control.ListenAdmin(ctx, "127.0.0.1:0", h, &tls.Config{})
	assert.ErrorContains(t, err, "no certificate")
	cert, _ := selfSigned(t)
	_, err = control.ListenAdmin(ctx, filepath.Join(t.TempDir(), "s"), h, &tls.Config{Certificates: []tls.Certificate{cert}})
	assert.ErrorIs(t, err, errors.ErrUnsupported, "no TLS on a unix socket")
}

func TestListenAdminWarnsThatATokenOffLoopbackTravelsInClear(t *testing.T) {
	var log bytes.Buffer
	h := control.NewHandler(control.WithToken(token), control.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	ln, err := control.ListenAdmin(context.Background(), "0.0.0.0:0", h, nil)
	require.NoError(t, err)
	ln.Close()
	assert.Contains(t, log.String(), "level=WARN")
	assert.Contains(t, log.String(), "travels in clear")
	assert.NotContains(t, log.String(), token)

	log.Reset()
	ln, err = control.ListenAdmin(context.Background(), "127.0.0.1:0", h, nil)
	require.NoError(t, err)
	ln.Close()
	assert.Empty(t, log.String(), "loopback traffic stays on the host")
}

func TestListenAdminReplacesOnlyAStaleSocket(t *testing.T) {
	ctx := context.Background()
	h := control.NewHandler(quiet)
	dir := t.TempDir()

	live := filepath.Join(dir, "live.sock")
	ln, err := control.ListenAdmin(ctx, live, h, nil)
	require.NoError(t, err)
	defer ln.Close()
	_, err = control.ListenAdmin(ctx, live, h, nil)
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "someone listens there")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("keep"), 0o600))
	_, err = control.ListenAdmin(ctx, file, h, nil)
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "not a socket")
	b, _ := os.ReadFile(file)
	assert.Equal(t, "keep", string(b))

	stale := filepath.Join(dir, "stale.sock")
	old, err := net.Listen("unix", stale)
	require.NoError(t, err)
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	ln2, err := control.ListenAdmin(ctx, stale, h, nil)
	require.NoError(t, err, "a socket nobody listens on is replaced")
	ln2.Close()
}
