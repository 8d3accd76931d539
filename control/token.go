package control

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxToken bounds a token file; a bearer token is a few dozen bytes.
const maxToken = 4 << 10

// ReadTokenFile reads a bearer token from the file at path: its content
// without surrounding white space, so a trailing newline does not count.
//
// Like ssh with a private key, it refuses a file other users may read or
// change (on Unix: any group or other permission bit, or an owner other
// than this user or root; on Windows access lives in ACLs, which it does not
// read). It refuses an empty file too, rather than run with no token, and a
// token that is not printable ASCII without spaces, which could not travel
// in an Authorization header. Its errors name the file, never its content.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the file opened, not of whatever path names now
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("control: token file %s is a directory", path)
	}
	if err := checkTokenFile(fi); err != nil {
		return "", fmt.Errorf("control: token file %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxToken+1))
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	if len(b) > maxToken {
		return "", fmt.Errorf("control: token file %s is over %d bytes", path, maxToken)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("control: token file %s is empty", path)
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c > '~' {
			return "", fmt.Errorf("control: token file %s: the token must be printable ASCII without spaces", path)
		}
	}
	return token, nil
}
