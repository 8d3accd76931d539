package upgrade

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// writePIDFile writes this process's id to path atomically: into a new
// file beside it, then renamed over it, so that a reader (a supervisor
// with PIDFile=) never sees a part or an empty file.
func writePIDFile(path string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("upgrade: pid file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("upgrade: pid file %s: %w", path, err)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.Itoa(os.Getpid()) + "\n"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
