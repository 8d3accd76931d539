package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/acceptgate/acceptgate/control"
)

// errTokenFlag answers --token, which earlier versions took: a token on the
// command line is in the process list for every user to read. The message
// never repeats what was given.
var errTokenFlag = errors.New("--token is no longer taken: the process list shows it to every user; use --token-file FILE (mode 0600), $ACCEPTGATE_TOKEN_FILE or $ACCEPTGATE_TOKEN")

// refuseTokenFlag returns errTokenFlag if args hold --token, before the flag
// package could quote its value in an error.
func refuseTokenFlag(args []string) error {
	for _, a := range args {
		// Past "--" too: the command then refuses the argument, and must
		// not quote it either.
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "token" {
			return errTokenFlag
		}
	}
	return nil
}

// adminToken returns the admin API's bearer token, from the first of: the
// file given (--token-file), $ACCEPTGATE_TOKEN_FILE, $ACCEPTGATE_TOKEN; ""
// if none is set. Both variables at once is an error rather than a guess.
func adminToken(file string) (string, error) {
	if file != "" {
		return control.ReadTokenFile(file)
	}
	envFile, hasFile := os.LookupEnv("ACCEPTGATE_TOKEN_FILE")
	env, hasEnv := os.LookupEnv("ACCEPTGATE_TOKEN")
	switch {
	case hasFile && hasEnv:
		return "", errors.New("both $ACCEPTGATE_TOKEN_FILE and $ACCEPTGATE_TOKEN are set; unset one")
	case hasFile:
		return control.ReadTokenFile(envFile)
	case hasEnv:
		// Set but empty, or with stray white space, is a mistake (a secret
		// that was not injected), not a request to run without a token.
		token, err := control.CheckToken(env)
		if err != nil {
			return "", fmt.Errorf("$ACCEPTGATE_TOKEN: %w", err)
		}
		return token, nil
	}
	return "", nil
}

// serverTLS loads the admin API's certificate and key; nil if neither is
// given.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--admin-cert and --admin-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// clientTLS trusts the certificates in the PEM file caFile besides the
// system's; nil if caFile is empty.
func clientTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool}, nil
}
