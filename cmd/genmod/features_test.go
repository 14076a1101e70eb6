package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"genmod/eval/features"
)

// train-features trains, reports accuracy and the FD floor, and writes a
// weights file that features.LoadFile reads back.
func TestTrainFeatures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "fm.safetensors")
	got, err := genmod(t, "eval", "train-features", "--data", "fashion-mnist-mini", "--steps", "4", "--batch", "32",
		"--max-examples", "200", "--fd-n", "100", "--out", out)
	if err != nil {
		t.Fatalf("train-features: %v\n%s", err, got)
	}
	for _, want := range []string{"test accuracy: ", "FD(test 100 vs train 100): ", "wrote " + out} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not say %q:\n%s", want, got)
		}
	}
	c, err := features.LoadFile(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Info.Dataset != "fashion-mnist-mini" || c.Info.Steps != 4 || c.Info.FDN != 100 || c.Info.TrainN != 200 {
		t.Errorf("Info = %+v", c.Info)
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"vectors", []string{"eval", "train-features", "--data", "moons", "--out", filepath.Join(dir, "m.safetensors")}, "28x28x1 images"},
		{"no out outside the source tree", []string{"eval", "train-features", "--data", "fashion-mnist-mini"}, "--out"},
		{"unknown dataset", []string{"eval", "train-features", "--data", "nope", "--out", filepath.Join(dir, "n.safetensors")}, "unknown data set"},
	}
	for _, c := range cases {
		cmd := exec.Command(binary, c.args...)
		cmd.Dir = dir // not the repository root
		b, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(b), c.want) || strings.Contains(string(b), "panic") {
			t.Errorf("%s: %v, output does not say %q:\n%s", c.name, err, c.want, b)
		}
	}
}

// eval lists the image metrics and, on a 2D run, refuses them naming the
// metrics that apply.
func TestEvalFeatureMetricsCLI(t *testing.T) {
	got, err := genmod(t, "eval", "--list")
	if err != nil {
		t.Fatalf("eval --list: %v\n%s", err, got)
	}
	for _, m := range []string{"fd ", "kid ", "pr ", "acc "} {
		if !strings.Contains(got, "\n"+m) && !strings.HasPrefix(got, m) {
			t.Errorf("eval --list does not list %q:\n%s", m, got)
		}
	}
	run := filepath.Join(t.TempDir(), "moons")
	if out, err := genmod(t, "train", "--model", "rf", "--data", "moons", "--steps", "5", "--batch", "32",
		"--hidden", "8", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	out, err := genmod(t, "eval", "--run", run, "--metrics", "fd", "--n", "50")
	if err == nil || !strings.Contains(out, "metric fd does not apply") || !strings.Contains(out, "metrics that do: w2, mmd, swd") {
		t.Errorf("eval fd on a 2D run: %v\n%s", err, out)
	}
}
