package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"genmod/internal/safetensors"
)

// genmod export writes the run's EMA weights by default, refuses to replace a
// file without --force and rejects unknown formats and weights.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if out, err := genmod(t, "train", "--model", "rf", "--data", "moons", "--steps", "4", "--batch", "32", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "w.safetensors")
	out, err := genmod(t, "export", "--run", run, "--format", "safetensors", "--out", file)
	if err != nil || !strings.Contains(out, "ema weights, step 4") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	f, err := safetensors.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Get("net/time_1/weights"); w == nil || w.DType != "F32" || f.Metadata["genmod.model"] != "rf" {
		t.Errorf("export lacks net/time_1/weights as F32 or the model metadata: %v", f.Metadata)
	}
	before, _ := os.ReadFile(file)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--run", run, "--out", file}, "--force"},
		{[]string{"--run", run, "--format", "onnx", "--out", file + "2"}, "unknown export format"},
		{[]string{"--run", run, "--weights", "best", "--out", file + "2"}, "unknown weights"},
		{[]string{"--run", filepath.Join(dir, "nosuch"), "--out", file + "2"}, "does not exist"},
		{[]string{"--run", run}, "--out"},
	} {
		out, err := genmod(t, append([]string{"export"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("export %v: %v, output %q, want it to mention %q", c.args, err, out, c.want)
		}
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("a refused export changed the existing file")
	}
	if _, err := os.Stat(file + "2"); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s2 behind", file)
	}
	out, err = genmod(t, "export", "--run", run, "--weights", "raw", "--force", "--out", file)
	if err != nil || !strings.Contains(out, "raw weights") {
		t.Errorf("export --weights raw --force: %v\n%s", err, out)
	}
}
