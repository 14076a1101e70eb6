package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"genmod/internal/checkpoint"
	"genmod/runs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/safetensors"
	"genmod/models"
)

// tinyModel is a noisy linear autoencoder: small enough to train in
// milliseconds, random enough (it draws noise from the store's RNG) to catch
// an RNG state that is not restored on resume.
type tinyModel struct{ nanAt bool }

func (m tinyModel) Loss(scope *model.Scope, x, _ *Node) *Node {
	g := x.Graph()
	noisy := Add(x, MulScalar(scope.RandomNormal(g, x.Shape()), 0.1))
	net := scope.In("net")
	h := Tanh(layers.Dense(net.In("enc"), noisy, true, 8))
	y := layers.Dense(net.In("dec"), h, true, x.Shape().Dimensions[1])
	loss := ReduceAllMean(Square(Sub(y, x)))
	if m.nanAt {
		loss = Div(loss, ScalarZero(g, dtypes.Float32)) // +Inf from the first step
	}
	return loss
}

func init() {
	models.Register(models.Entry{Name: "test-tiny", Description: "test only", New: func(any, models.DataInfo) (models.Model, error) {
		return tinyModel{}, nil
	}})
	models.Register(models.Entry{Name: "test-nan", Description: "test only", New: func(any, models.DataInfo) (models.Model, error) {
		return tinyModel{nanAt: true}, nil
	}})
}

func tinyConfig(out string) runs.Config {
	c := runs.DefaultConfig()
	c.Model, c.Data, c.Out = "test-tiny", "moons", out
	c.Steps, c.Batch, c.CheckpointEvery, c.LogEvery, c.Warmup = 20, 32, 5, 1, 3
	c.ClipNorm = 0.01 // always active: resume must reproduce the global-norm sum exactly
	return c
}

func quiet() Options { return Options{Log: &bytes.Buffer{}} }

// checkpointBytes returns the tensors of a run's final checkpoint.
func checkpointBytes(t *testing.T, dir string, step int) map[string][]byte {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%08d.safetensors", step)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, tn := range f.Tensors {
		out[tn.Name] = tn.Data
	}
	return out
}

// A run stopped abruptly after step 13 (its last checkpoint is step 10) and
// resumed must end with the same bytes, variable for variable, as the run
// that was never interrupted: weights, EMA, Adam moments, counters and RNG.
func TestKillAndResumeIsBitIdentical(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	if _, err := Train(ctx, tinyConfig(a), quiet()); err != nil {
		t.Fatal(err)
	}
	o := quiet()
	o.StopAfter = 13
	if _, err := Train(ctx, tinyConfig(b), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: err = %v, want ErrStopped", err)
	}
	if _, err := Resume(ctx, b, quiet()); err != nil {
		t.Fatal(err)
	}
	// Killed before its first checkpoint: resume starts it over.
	c := filepath.Join(root, "c")
	o.StopAfter = 3
	if _, err := Train(ctx, tinyConfig(c), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: err = %v, want ErrStopped", err)
	}
	if _, err := Resume(ctx, c, quiet()); err != nil {
		t.Fatal(err)
	}
	wa, wb := checkpointBytes(t, a, 20), checkpointBytes(t, b, 20)
	for name, va := range checkpointBytes(t, c, 20) {
		if !bytes.Equal(va, wa[name]) {
			t.Errorf("variable %s differs after a restart from step 0", name)
		}
	}
	if len(wa) != len(wb) || len(wa) < 10 {
		t.Fatalf("checkpoints hold %d and %d tensors", len(wa), len(wb))
	}
	for name, va := range wa {
		if !bytes.Equal(va, wb[name]) {
			t.Errorf("variable %s differs after kill and resume", name)
		}
	}
	for _, want := range []string{"ema/net/enc/dense/weights", "#rngState", "global_step"} {
		if _, ok := wa[want]; !ok {
			t.Errorf("checkpoint lacks %s (has %v)", want, keys(wa))
		}
	}
	// Metrics of the resumed run have each step once.
	ra, _ := runs.OpenRun(a)
	rb, _ := runs.OpenRun(b)
	ma, _ := ra.ReadMetrics()
	mb, _ := rb.ReadMetrics()
	if len(ma) != 20 || len(mb) != 20 {
		t.Errorf("metrics lines: %d and %d, want 20", len(ma), len(mb))
	}
	for i := range ma {
		if ma[i].Loss != mb[i].Loss {
			t.Errorf("step %d: loss %v vs %v", ma[i].Step, ma[i].Loss, mb[i].Loss)
		}
	}
	// Keep=2: only the two newest checkpoints stay.
	cks, _ := checkpoint.List(filepath.Join(a, "checkpoints"))
	if len(cks) != 2 || cks[0].Step != 20 || cks[1].Step != 15 {
		t.Errorf("checkpoints kept: %+v", cks)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestResumeSkipsCorruptNewestCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	o := quiet()
	o.StopAfter = 12
	if _, err := Train(context.Background(), tinyConfig(dir), o); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	newest := filepath.Join(dir, "checkpoints", "step-00000010.safetensors")
	raw, _ := os.ReadFile(newest)
	if err := os.WriteFile(newest, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	log := &bytes.Buffer{}
	if _, err := Resume(context.Background(), dir, Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "skipping unreadable checkpoint") || !strings.Contains(log.String(), "from step 5") {
		t.Errorf("log does not show the fallback:\n%s", log)
	}
}

func TestNonFiniteLossStopsAndKeepsCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nan")
	cfg := tinyConfig(dir)
	cfg.Model = "test-nan"
	_, err := Train(context.Background(), cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "at step 1") {
		t.Fatalf("err = %v, want a non-finite loss error naming step 1", err)
	}
	cks, _ := checkpoint.List(filepath.Join(dir, "checkpoints"))
	if len(cks) != 0 {
		t.Errorf("a diverged run wrote checkpoints: %+v", cks)
	}
}

func TestBadRunsAreRefused(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	cases := []struct {
		name string
		mut  func(*runs.Config)
		want string
	}{
		{"unknown model", func(c *runs.Config) { c.Model = "nope" }, "valid:"},
		{"unknown data", func(c *runs.Config) { c.Data = "nope" }, "nope"},
		{"zero steps", func(c *runs.Config) { c.Steps = 0 }, "steps"},
		{"bad schedule", func(c *runs.Config) { c.LRSchedule = "step" }, "lr-schedule"},
		{"option the model does not have", func(c *runs.Config) { c.Set("layers", 3) }, "has no option layers"},
		{"batch larger than the data", func(c *runs.Config) { c.Data, c.Batch = "fashion-mnist-mini", 7000 }, "batch size"},
	}
	for _, c := range cases {
		cfg := tinyConfig(filepath.Join(root, strings.ReplaceAll(c.name, " ", "-")))
		c.mut(&cfg)
		_, err := Train(ctx, cfg, quiet())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
		if _, statErr := os.Stat(cfg.Out); statErr == nil {
			t.Errorf("%s: a run folder was left behind", c.name)
		}
	}
	if _, err := Resume(ctx, root, quiet()); err == nil || !strings.Contains(err.Error(), "not a run folder") {
		t.Errorf("resume of a non-run: err = %v", err)
	}
	// An existing run is never overwritten.
	dir := filepath.Join(root, "exists")
	cfg := tinyConfig(dir)
	cfg.Steps = 2
	if _, err := Train(ctx, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(ctx, cfg, quiet()); !errors.Is(err, runs.ErrRunExists) {
		t.Errorf("second train into the same folder: err = %v", err)
	}
}
