package control_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceptgate/acceptgate/control"
)

func TestReadTokenFile(t *testing.T) {
	const secret = "tok-3f9a-0123456789"
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		errSub  string // "" for success
		unixish bool   // the check needs Unix file modes
	}{
		{name: "0600 with a newline", content: secret + "\n", mode: 0o600, want: secret},
		{name: "0400", content: secret, mode: 0o400, want: secret},
		{name: "readable by others", content: secret, mode: 0o644, errSub: "chmod 600", unixish: true},
		{name: "readable by the group", content: secret, mode: 0o640, errSub: "mode 0640", unixish: true},
		{name: "writable by the group", content: secret, mode: 0o620, errSub: "mode 0620", unixish: true},
		{name: "empty", content: "", mode: 0o600, errSub: "empty"},
		{name: "only white space", content: " \n\t\n", mode: 0o600, errSub: "empty"},
		{name: "two words", content: secret + " " + secret, mode: 0o600, errSub: "printable ASCII"},
		{name: "control byte", content: secret + "\x00", mode: 0o600, errSub: "printable ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unixish && runtime.GOOS == "windows" {
				t.Skip("no Unix modes")
			}
			path := filepath.Join(t.TempDir(), "token")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			require.NoError(t, os.Chmod(path, tc.mode))
			got, err := control.ReadTokenFile(path)
			if tc.errSub == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errSub)
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.NotContains(t, err.Error(), secret, "and never the token")
			assert.Empty(t, got)
		})
	}
	_, err := control.ReadTokenFile(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = control.ReadTokenFile(t.TempDir())
	assert.ErrorContains(t, err, "directory")
}
