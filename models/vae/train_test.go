package vae_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"testing"

	"genmod/eval"
	"genmod/models"
	_ "genmod/models/all"
	"genmod/runs"
	"genmod/train"
)

// A VAE and an IWAE train through the real loop on binarized Fashion-MNIST
// (Bernoulli decoder) and a VAE on moons (Gaussian decoder, with and
// without a planar-flow posterior); the loss falls,
// genmod eval reports −ELBO ≥ −IWAE, the binary runs beat the uniform
// Bernoulli (D·ln 2 nats), and samples are finite (pixel probabilities on
// images).
func TestTrainAndEvaluate(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three models")
	}
	for _, c := range []struct {
		model, data, binarize string
		flows                 int
	}{
		{"vae", "fashion-mnist-mini", "dynamic", 0},
		{"iwae", "fashion-mnist-mini", "static", 0},
		{"vae", "moons", "", 0},
		{"vae", "moons", "", 4},
	} {
		t.Run(fmt.Sprintf("%s-%s-flows%d", c.model, c.data, c.flows), func(t *testing.T) {
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data, cfg.Out, cfg.Binarize = c.model, c.data, filepath.Join(t.TempDir(), "run"), c.binarize
			cfg.Steps, cfg.Batch, cfg.Warmup, cfg.LogEvery, cfg.LR = 60, 32, 5, 10, 3e-3
			cfg.Set("hidden", []int{64})
			cfg.Set("latent", 8)
			cfg.Set("layers", c.flows)
			if _, err := train.Train(context.Background(), cfg, train.Options{Log: io.Discard}); err != nil {
				t.Fatal(err)
			}
			s, err := runs.Open(cfg.Out, "")
			if err != nil {
				t.Fatal(err)
			}
			ms, err := s.Run.ReadMetrics()
			if err != nil || len(ms) < 2 {
				t.Fatalf("metrics: %v (%d lines)", err, len(ms))
			}
			if first, last := ms[0].Loss, ms[len(ms)-1].Loss; !(last < first) {
				t.Errorf("loss did not fall: %.4f -> %.4f", first, last)
			}
			rep, err := eval.Evaluate(s, eval.Options{Metrics: []string{"elbo", "iwae"}, N: 40, K: 64, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			elbo, iwae := rep.Results[0], rep.Results[1]
			t.Logf("-ELBO %.3f, -IWAE_64 %.3f %s", elbo.Value, iwae.Value, elbo.Unit)
			if elbo.Metric != "elbo" || iwae.Metric != "iwae" || elbo.Unit != "nats" || elbo.N != 40 {
				t.Errorf("results %+v %+v", elbo, iwae)
			}
			if !(iwae.Value <= elbo.Value) || math.IsNaN(elbo.Value) {
				t.Errorf("-IWAE %.4f should be <= -ELBO %.4f", iwae.Value, elbo.Value)
			}
			if d := float64(s.Info.Dim()); c.binarize != "" && !(elbo.Value < d*math.Ln2) {
				t.Errorf("-ELBO %.1f nats is no better than the uniform Bernoulli's %.1f", elbo.Value, d*math.Ln2)
			}
			x, err := s.Model.(models.Sampler).Sample(s.Runtime(true), models.SampleRequest{N: 5, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range x {
				if c.binarize != "" && (v < 0 || v > 1) || math.IsNaN(float64(v)) {
					t.Fatalf("sample value %v", v)
				}
			}
		})
	}
}
