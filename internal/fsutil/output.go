package fsutil

import (
	"errors"
	"fmt"
	"os"
)

// CheckOutput is genmod's rule for a file a command is about to write
// under a name the user gave: it must not be a directory, and an existing
// file (or symbolic link) is replaced only when force is set. Commands call
// it before any work, so that a long run does not end in a refusal; the
// write itself then goes through WriteFileAtomic. The error for an existing
// file names it and says --force, and matches os.ErrExist (errors.Is).
func CheckOutput(path string, force bool) error {
	if path == "" {
		return errors.New("no output file given")
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a missing folder on the way is reported by the write
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if target, err := os.Stat(path); err == nil {
			st = target
		}
	}
	if st.IsDir() {
		return fmt.Errorf("output %s is a directory; give a file name", path)
	}
	if !force {
		return &existsError{path}
	}
	return nil
}

type existsError struct{ path string }

func (e *existsError) Error() string {
	return fmt.Sprintf("output %s already exists; choose another name or ask to replace it", e.path)
}

func (e *existsError) Is(target error) bool { return target == os.ErrExist }
