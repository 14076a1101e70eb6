package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"genmod/data"
	"genmod/internal/safetensors"
)

// The CLI tests run the real binary, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "genmod-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "genmod")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "GOEXPERIMENT=simd")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building genmod: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func genmod(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Every kind of bad input gets a clear message, a non-zero exit and no panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notRun := filepath.Join(dir, "plain")
	os.MkdirAll(notRun, 0o755)
	badNPY := filepath.Join(dir, "bad.npy")
	os.WriteFile(badNPY, []byte("\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'"), 0o644)
	readOnly := filepath.Join(dir, "ro")
	os.MkdirAll(readOnly, 0o555)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown model", []string{"train", "--model", "nope", "--out", filepath.Join(dir, "a")}, "(valid: "},
		{"unknown dataset", []string{"train", "--data", "nope", "--out", filepath.Join(dir, "b")}, "moons"},
		{"resume a non-run", []string{"train", "--resume", notRun}, "not a run folder"},
		{"sample a non-run", []string{"sample", "--run", notRun, "--out", filepath.Join(dir, "x.png")}, "not a run folder"},
		{"corrupt npy", []string{"data", "npy:" + badNPY}, "bad.npy"},
		{"bad config key", []string{"train", "--config", writeFile(t, dir, "c.json", `{"stepz": 1}`), "--out", filepath.Join(dir, "c")}, "stepz"},
		{"zero steps", []string{"train", "--steps", "0", "--out", filepath.Join(dir, "d")}, "steps must be >= 1"},
		{"missing out", []string{"train"}, "--out"},
		{"option the model lacks", []string{"train", "--model", "realnvp", "--target", "v", "--out", filepath.Join(dir, "e")}, "model realnvp has no option target"},
		{"bad option value", []string{"train", "--model", "rf", "--t-sampling", "beta", "--out", filepath.Join(dir, "f")}, "t-sampling"},
		{"unknown backend", []string{"version", "--backend", "nosuch"}, "not available"},
	}
	if os.Geteuid() != 0 { // root can write anywhere
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"unwritable output", []string{"data", "moons", "--preview", filepath.Join(readOnly, "p.png")}, "cannot write"})
	}
	for _, c := range cases {
		out, err := genmod(t, c.args...)
		if err == nil {
			t.Errorf("%s: succeeded, want an error\n%s", c.name, out)
			continue
		}
		if !strings.Contains(out, c.want) || strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
			t.Errorf("%s: output does not say %q (or panicked):\n%s", c.name, c.want, out)
		}
	}
	for _, p := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("a failed command left %s behind", p)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A training process killed with SIGKILL and resumed ends with the same
// weights, bit for bit, as one that ran without interruption.
func TestSIGKILLAndResume(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	args := []string{"train", "--model", "rf", "--data", "moons", "--steps", "300", "--batch", "64",
		"--hidden", "32,32", "--checkpoint-every", "40", "--keep", "100", "--sample-every", "0", "--seed", "3"}
	if out, err := genmod(t, append(args, "--out", a)...); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cmd := exec.Command(binary, append(args, "--out", b)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a checkpoint is on disk, mid-run.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(b, "checkpoints", "step-00000080.safetensors")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(b, "checkpoints", "step-00000300.safetensors")); err == nil {
		t.Skip("the run finished before it could be killed")
	}
	if out, err := genmod(t, "train", "--resume", b); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	fa, err := safetensors.ReadFile(filepath.Join(a, "checkpoints", "step-00000300.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := safetensors.ReadFile(filepath.Join(b, "checkpoints", "step-00000300.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Fatalf("%d vs %d tensors", len(fa.Tensors), len(fb.Tensors))
	}
	for i := range fa.Tensors {
		if fa.Tensors[i].Name != fb.Tensors[i].Name || !bytes.Equal(fa.Tensors[i].Data, fb.Tensors[i].Data) {
			t.Errorf("tensor %s differs after SIGKILL and resume", fa.Tensors[i].Name)
		}
	}
	// The resumed run samples, in every format.
	for _, f := range []string{"s.png", "s.npy", "s.csv"} {
		if out, err := genmod(t, "sample", "--run", b, "--n", "50", "--steps", "10", "--out", filepath.Join(dir, f)); err != nil {
			t.Errorf("sample %s: %v\n%s", f, err, out)
		}
	}
	out, err := genmod(t, "sample", "--run", b, "--n", "10", "--class", "5", "--out", filepath.Join(dir, "c.png"))
	if err == nil || !strings.Contains(out, "out of range") {
		t.Errorf("class 5 of a 2-class model: %v\n%s", err, out)
	}
	// A flag that is another family's sampling option is refused by name.
	out, err = genmod(t, "sample", "--run", b, "--n", "10", "--temperature", "0.5", "--out", filepath.Join(dir, "t.png"))
	if err == nil || !strings.Contains(out, "has no option temperature") {
		t.Errorf("--temperature on rf: %v\n%s", err, out)
	}
}

// score prints one exact log-density per row; a far-away point scores lowest.
func TestScore(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "flow")
	if out, err := genmod(t, "train", "--model", "realnvp", "--data", "moons", "--steps", "150", "--batch", "128",
		"--hidden", "16,16", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	pts := writeFile(t, dir, "p.csv", "x,y\n0.5,0.3\n12,-9\n-1,0.2\n")
	out, err := genmod(t, "score", "--run", run, "--input", pts)
	if err != nil {
		t.Fatalf("score: %v\n%s", err, out)
	}
	var lp []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row int
		var v float64
		if n, _ := fmt.Sscanf(line, "%d,%g", &row, &v); n == 2 {
			lp = append(lp, v)
		}
	}
	if len(lp) != 3 || !(lp[1] < lp[0] && lp[1] < lp[2]) {
		t.Errorf("log p per row = %v, want 3 values with the far point (row 2) lowest\n%s", lp, out)
	}
	bad := writeFile(t, dir, "bad.csv", "1,2,3\n")
	if out, err := genmod(t, "score", "--run", run, "--input", bad); err == nil || !strings.Contains(out, "expects 2") {
		t.Errorf("3-wide rows for a 2-D model: %v\n%s", err, out)
	}
	if out, err := genmod(t, "score", "--run", run, "--density", filepath.Join(dir, "d.png")); err != nil {
		t.Errorf("density: %v\n%s", err, out)
	}
	empty := writeFile(t, dir, "empty.npy", "")
	if out, err := genmod(t, "score", "--run", run, "--input", empty); err == nil || !strings.Contains(out, "empty.npy") {
		t.Errorf("empty npy: %v\n%s", err, out)
	}
}

// The diffusion commands as a user runs them: samplers, their bad values,
// eval, and the two few-step students.
func TestDiffusionCommands(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "ddpm")
	if out, err := genmod(t, "train", "--model", "ddpm", "--data", "moons", "--conditional=false", "--steps", "60",
		"--batch", "64", "--hidden", "16,16", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	png := filepath.Join(dir, "s.png") // every sample replaces it: --force
	for _, args := range [][]string{
		{"--sampler", "ddim", "--steps", "5", "--eta", "0.5"},
		{"--sampler", "ddpm", "--steps", "10", "--variance", "beta"},
		{"--sampler", "sde", "--steps", "10"},
		{"--sampler", "ode", "--rtol", "1e-2", "--atol", "1e-2"},
		{"--sampler", "rk4", "--steps", "3"},
	} {
		if out, err := genmod(t, append([]string{"sample", "--run", run, "--n", "50", "--out", png, "--force"}, args...)...); err != nil {
			t.Errorf("sample %v: %v\n%s", args, err, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sampler", "ddim", "--eta", "2"}, "eta must be in [0, 1]"},
		{[]string{"--sampler", "dpm"}, "unknown sampler"},
		{[]string{"--cfg", "1"}, "guidance"},
		{[]string{"--steps", "0"}, "--steps must be >= 1"},
		{[]string{"--sampler", "euler", "--eta", "0.3"}, "ddim"},
	} {
		out, err := genmod(t, append([]string{"sample", "--run", run, "--n", "5", "--out", png, "--force"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) || strings.Contains(out, "panic") {
			t.Errorf("sample %v: %v, want an error saying %q\n%s", c.args, err, c.want, out)
		}
	}
	out, err := genmod(t, "eval", "--run", run, "--metrics", "w2,mmd,swd", "--n", "200", "--sampler", "ddim", "--steps", "5")
	if err != nil || !strings.Contains(out, "w2") || !strings.Contains(out, "mmd") {
		t.Errorf("eval: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(run, "eval.json")); err != nil {
		t.Errorf("eval wrote no eval.json: %v", err)
	}
	if out, err := genmod(t, "eval", "--run", run, "--metrics", "vlb"); err == nil || !strings.Contains(out, "metrics that do") {
		t.Errorf("vlb on 2-D data: %v\n%s", err, out)
	}
	students := []struct {
		args []string
		out  string
	}{
		{[]string{"distill", "--from", "4", "--steps-out", "2", "--train-steps", "10"}, "d2"},
		{[]string{"reflow", "--teacher-steps", "2", "--train-steps", "10"}, "r1"},
	}
	for _, st := range students {
		dst := filepath.Join(dir, st.out)
		if out, err := genmod(t, append(append([]string{}, st.args...), "--run", run, "--out", dst)...); err != nil {
			t.Fatalf("%v: %v\n%s", st.args, err, out)
		}
		if out, err := genmod(t, "sample", "--run", dst, "--n", "20", "--out", png, "--force"); err != nil {
			t.Errorf("sample the %s student: %v\n%s", st.args[0], err, out)
		}
	}
	if out, err := genmod(t, "distill", "--run", run, "--from", "24", "--steps-out", "4", "--out", filepath.Join(dir, "x")); err == nil || !strings.Contains(out, "power-of-two") {
		t.Errorf("distill 24 -> 4: %v\n%s", err, out)
	}
}

// score on an image model takes rows of pixels in [0, 1] and adds bits/dim.
func TestScoreImages(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "flow")
	if out, err := genmod(t, "train", "--model", "realnvp", "--data", "fashion-mnist-mini", "--dequantize", "--steps", "3",
		"--batch", "8", "--out", run); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	img := make([]float32, 2*784)
	for i := range img {
		img[i] = float32(i%256) / 255
	}
	good := filepath.Join(dir, "x.npy")
	if err := data.WriteNPY(good, img, 2, 784); err != nil {
		t.Fatal(err)
	}
	out, err := genmod(t, "score", "--run", run, "--input", good)
	if err != nil || !strings.Contains(out, "row,log_p,bits_per_dim") {
		t.Fatalf("score: %v\n%s", err, out)
	}
	var bpd []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row int
		var lp, b float64
		if n, _ := fmt.Sscanf(line, "%d,%g,%g", &row, &lp, &b); n == 3 {
			bpd = append(bpd, b)
		}
	}
	if len(bpd) != 2 || bpd[0] <= 0 || bpd[0] > 16 {
		t.Errorf("bits/dim = %v, want 2 values in (0, 16]\n%s", bpd, out)
	}
	img[5] = 3 // not pixel/255
	bad := filepath.Join(dir, "bad.npy")
	if err := data.WriteNPY(bad, img, 2, 784); err != nil {
		t.Fatal(err)
	}
	if out, err := genmod(t, "score", "--run", run, "--input", bad); err == nil || !strings.Contains(out, "[0, 1]") {
		t.Errorf("pixels out of range: %v\n%s", err, out)
	}
}
