package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.png")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "link.png")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(file, "sub.png") // below a file, not a folder
	for _, c := range []struct {
		path  string
		force bool
		want  string // "" = allowed
	}{
		{filepath.Join(dir, "new.png"), false, ""},
		{filepath.Join(dir, "missing", "new.png"), false, ""}, // the write reports the folder
		{file, false, file + " already exists"},
		{file, true, ""},
		{dangling, false, "already exists"},
		{dangling, true, ""},
		{dir, false, "is a directory"},
		{dir, true, "is a directory"},
		{notDir, true, "not a directory"},
		{"", true, "no output file"},
	} {
		err := CheckOutput(c.path, c.force)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckOutput(%q, %v) = %v, want nil", c.path, c.force, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckOutput(%q, %v) = %v, want an error saying %q", c.path, c.force, err, c.want)
		}
	}
	if err := CheckOutput(file, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("the error for an existing file does not match os.ErrExist: %v", err)
	}
}
