package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command that writes a file the user names refuses to replace an
// existing one without --force (naming the file and the flag, leaving it
// untouched and no temporary file behind), and replaces it with --force.
func TestOutputsNeedForce(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "flow")
	if out, err := genmod(t, "train", "--model", "realnvp", "--data", "moons", "--steps", "4", "--batch", "32",
		"--hidden", "16,16", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	pts := writeFile(t, dir, "p.csv", "x,y\n0.5,0.3\n-1,0.2\n")
	z := filepath.Join(dir, "z.npy")
	if out, err := genmod(t, "encode", "--run", run, "--input", pts, "--out", z); err != nil {
		t.Fatalf("encode: %v\n%s", err, out)
	}
	outDir := filepath.Join(dir, "out")
	cases := []struct {
		name string
		file string   // in outDir, created beforehand
		args []string // the command, writing to {} (the file)
	}{
		{"sample png", "s.png", []string{"sample", "--run", run, "--n", "20", "--out", "{}"}},
		{"sample csv", "s.csv", []string{"sample", "--run", run, "--n", "20", "--out", "{}"}},
		{"encode", "z.npy", []string{"encode", "--run", run, "--input", pts, "--out", "{}"}},
		{"decode", "x.npy", []string{"decode", "--run", run, "--input", z, "--out", "{}"}},
		{"score --out", "scores.csv", []string{"score", "--run", run, "--input", pts, "--out", "{}"}},
		{"score --density", "d.png", []string{"score", "--run", run, "--density", "{}"}},
		{"data --preview", "p.png", []string{"data", "moons", "--preview", "{}"}},
		{"export", "w.safetensors", []string{"export", "--run", run, "--out", "{}"}},
		{"eval train-features", "f.safetensors", []string{"eval", "train-features", "--data", "fashion-mnist-mini",
			"--steps", "1", "--batch", "8", "--max-examples", "20", "--fd-n", "4", "--out", "{}"}},
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const old = "an earlier output"
	for _, c := range cases {
		file := filepath.Join(outDir, c.file)
		if err := os.WriteFile(file, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		args := make([]string, len(c.args))
		for i, a := range c.args {
			args[i] = strings.ReplaceAll(a, "{}", file)
		}
		out, err := genmod(t, args...)
		if err == nil || !strings.Contains(out, file+" already exists") || !strings.Contains(out, "--force") {
			t.Errorf("%s over an existing file: %v, want a refusal naming %s and --force:\n%s", c.name, err, file, out)
		}
		if strings.Contains(out, "training the feature classifier") {
			t.Errorf("%s: the refusal came after the work started:\n%s", c.name, out)
		}
		if b, _ := os.ReadFile(file); string(b) != old {
			t.Errorf("%s: a refused command changed %s", c.name, file)
		}
		if out, err := genmod(t, append(args, "--force")...); err != nil {
			t.Errorf("%s --force: %v\n%s", c.name, err, out)
		} else if b, _ := os.ReadFile(file); string(b) == old {
			t.Errorf("%s --force did not replace %s", c.name, file)
		}
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != len(cases) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output folder holds %v, want only the %d outputs (temporary files left behind?)", names, len(cases))
	}
	// A folder is never an output file, --force or not.
	if out, err := genmod(t, "sample", "--run", run, "--out", outDir, "--force"); err == nil || !strings.Contains(out, "is a directory") {
		t.Errorf("sample --out FOLDER --force: %v\n%s", err, out)
	}
}
