package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxToken bounds a token file; a bearer token is a few dozen bytes.
const maxToken = 4 << 10

// MinTokenLen is the length, in bytes, of the shortest token a Handler, and
// ReadTokenFile and CheckToken, take: 16 random characters, or the 32 of
// "openssl rand -hex 16", are out of reach of guessing over the network.
const MinTokenLen = 16

// ErrShortToken is wrapped by the errors for a token shorter than
// MinTokenLen: ListenAdmin's for a Handler given one, ReadTokenFile's and
// CheckToken's.
var ErrShortToken = fmt.Errorf("the token is shorter than %d bytes (make one with: openssl rand -hex 16)", MinTokenLen)

// ReadTokenFile reads a bearer token from the file at path: its content
// without surrounding white space, so a trailing newline does not count.
//
// Like ssh with a private key, it refuses a file other users may read or
// change (on Unix: any group or other permission bit, or an owner other
// than this user or root; on Windows access lives in ACLs, which it does not
// read). It refuses an empty file too, rather than run with no token, a
// token shorter than MinTokenLen, and a token that is not printable ASCII
// without spaces, which could not travel in an Authorization header. Its
// errors name the file, never its content.
func ReadTokenFile(path string) (string, error) {
	// Only a regular file: opening a FIFO would wait for a writer for good.
	if fi, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	} else if err := regular(path, fi); err != nil {
		return "", err
	}
	f, err := openNoBlock(path)
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the file opened, not of whatever path named before
	if err != nil {
		return "", fmt.Errorf("control: token file: %w", err)
	}
	if err := regular(path, fi); err != nil {
		return "", err
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
	token, err := CheckToken(string(b))
	if err != nil {
		return "", fmt.Errorf("control: token file %s: %w", path, err)
	}
	return token, nil
}

func regular(path string, fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return fmt.Errorf("control: token file %s is a directory", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("control: token file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	return nil
}

// CheckToken returns s without surrounding white space, or an error if
// nothing is left, what is left is shorter than MinTokenLen (wrapping
// ErrShortToken), or it is not printable ASCII without spaces, which could
// not travel in an Authorization header. Its errors never contain s.
func CheckToken(s string) (string, error) {
	token := strings.TrimSpace(s)
	if token == "" {
		return "", errors.New("the token is empty")
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c > '~' {
			return "", errors.New("the token must be printable ASCII without spaces")
		}
	}
	if err := checkTokenLen(token); err != nil {
		return "", err
	}
	return token, nil
}

// checkTokenText refuses a token given as it is (WithToken) that CheckToken
// would refuse, or change: white space around a token never arrives in an
// Authorization header, so that its length would be a lie and nobody could
// send it. Its errors never contain the token.
func checkTokenText(token string) error {
	got, err := CheckToken(token)
	if err != nil {
		return err
	}
	if got != token {
		return errors.New("the token has white space around it, which no Authorization header carries")
	}
	return nil
}

// checkTokenLen refuses a token too short to stand against guessing; its
// error never contains the token.
func checkTokenLen(token string) error {
	if len(token) < MinTokenLen {
		return ErrShortToken
	}
	return nil
}
