package eval_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"genmod/eval"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/runs"
	"genmod/train"
)

// tinyRun trains a small rectified flow for a few steps and opens it.
func tinyRun(t *testing.T, dataset string, conditional bool) *runs.Session {
	t.Helper()
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "rf", dataset, filepath.Join(t.TempDir(), "run")
	cfg.Steps, cfg.Batch, cfg.Warmup, cfg.EMA = 3, 16, 1, 0
	cfg.ModelOptions = map[string]any{"net": "mlp", "hidden": []int{16}, "conditional": conditional}
	if _, err := train.Train(context.Background(), cfg, train.Options{Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	s, err := runs.Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// On an image run of a dataset with a committed classifier the feature
// metrics run and say what they measured; elsewhere they refuse with the
// reason and the metrics that do apply.
func TestFeatureMetrics(t *testing.T) {
	img := tinyRun(t, "fashion-mnist-mini", true)
	rep, err := eval.Evaluate(img, eval.Options{Metrics: []string{"fd", "kid", "pr", "acc"}, N: 100, Seed: 1,
		Sample: runs.SampleOptions{Seed: 1, Model: map[string]any{"steps": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.Print(&table); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Metric)
		if r.Split != "test" || r.N != 100 || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			t.Errorf("%+v: want split test, n 100, a finite value", r)
		}
	}
	if want := []string{"fd", "kid", "precision", "recall", "acc"}; !slices.Equal(names, want) {
		t.Errorf("results %v, want %v", names, want)
	}
	if !strings.Contains(rep.Features, "fashion-mnist classifier") {
		t.Errorf("report does not name the classifier: %q", rep.Features)
	}
	fd := rep.Results[0]
	if !(fd.Value > 0) || !strings.Contains(fd.Note, "floor") {
		t.Errorf("fd after 3 training steps: %+v, want > 0 with the floor in the note", fd)
	}
	for _, r := range rep.Results[2:] {
		if r.Value < 0 || r.Value > 1 {
			t.Errorf("%s = %g, want a fraction", r.Metric, r.Value)
		}
	}

	moons := tinyRun(t, "moons", true)
	uncond := tinyRun(t, "fashion-mnist-mini", false)
	cases := []struct {
		name   string
		s      *runs.Session
		metric string
		want   []string
	}{
		{"fd on 2D", moons, "fd", []string{"metric fd does not apply", "holds vectors", "metrics that do: w2, mmd, swd"}},
		{"acc on 2D", moons, "acc", []string{"metric acc does not apply", "metrics that do: w2"}},
		{"w2 on images", img, "w2", []string{"metric w2 does not apply", "fd, kid, pr", "metrics that do: fd, kid, pr, acc"}},
		{"acc unconditional", uncond, "acc", []string{"not class-conditional", "metrics that do: fd, kid, pr"}},
		{"elbo on rf", moons, "elbo", []string{"metric elbo does not apply", "latent-variable models", "metrics that do: w2"}},
	}
	for _, c := range cases {
		_, err := eval.Evaluate(c.s, eval.Options{Metrics: []string{c.metric}, N: 50})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
}

// The variational bound scores the test images in the run's own pixel
// space: a ddpm trained with --pixels unit sees [0, 1] images and is scored
// on them (bins of width 1/255), one trained with the default on [-1, 1].
// Each eval result must equal the bound computed directly on the test images
// mapped to that range.
func TestVLBPixelRange(t *testing.T) {
	for _, c := range []struct {
		pixels string
		lo, hi float32
	}{{"unit", 0, 1}, {"symmetric", -1, 1}} {
		t.Run(c.pixels, func(t *testing.T) {
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data, cfg.Out = "ddpm", "fashion-mnist-mini", filepath.Join(t.TempDir(), "run")
			cfg.Steps, cfg.Batch, cfg.Warmup, cfg.EMA, cfg.Pixels = 2, 4, 1, 0, c.pixels
			cfg.ModelOptions = map[string]any{"channels": []int{4}, "time-dim": 8, "conditional": false}
			if _, err := train.Train(context.Background(), cfg, train.Options{Log: io.Discard}); err != nil {
				t.Fatal(err)
			}
			s, err := runs.Open(cfg.Out, "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.PixelRange(); got.Lo != c.lo || got.Hi != c.hi {
				t.Fatalf("--pixels %s: the session's range is %+v", c.pixels, got)
			}
			const n = 2
			rep, err := eval.Evaluate(s, eval.Options{Metrics: []string{"vlb"}, N: n, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := eval.ReferenceSubset(s.Test, n, 3)
			x := make([]float32, len(ref))
			for i, v := range ref {
				x[i] = c.lo + v*(c.hi-c.lo)
			}
			want, err := s.Model.(models.PixelBounder).PixelBound(s.Runtime(true), x, n, models.PixelBoundOptions{Seed: 3, Pixels: models.Range{Lo: c.lo, Hi: c.hi}})
			if err != nil {
				t.Fatal(err)
			}
			mean := (want.BitsPerDim[0] + want.BitsPerDim[1]) / n
			if got := rep.Results[0].Value; math.Abs(got-mean) > 1e-9*mean {
				t.Errorf("eval vlb = %.6f bits/dim, the bound on the test images in [%g, %g] is %.6f", got, c.lo, c.hi, mean)
			}
		})
	}
}
