package gan_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"genmod/data"
	"genmod/internal/safetensors"
	_ "genmod/models/gan"
	"genmod/models/modeltest"
	"genmod/runs"
	"genmod/train"
)

// The GANs train through the real loop (train.Train, models.Stepper's
// phases) on small networks.

func quiet() train.Options { return train.Options{Log: io.Discard, NoSamples: true} }

func gaussConfig(t *testing.T, kind string, mu, s []float64) runs.Config {
	t.Helper()
	dir := t.TempDir()
	_, path := modeltest.GaussianNPY(t, dir, mu, s, 4000, 1)
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = kind, "npy:"+path, filepath.Join(dir, "run")
	cfg.Batch, cfg.Warmup, cfg.LogEvery, cfg.CheckpointEvery = 128, 10, 50, 0
	cfg.Set("hidden", []int{64, 64})
	return cfg
}

// checkpoint returns the tensors of a run's checkpoint at step, by name.
func checkpoint(t *testing.T, dir string, step int) map[string]safetensors.Tensor {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%08d.safetensors", step)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]safetensors.Tensor{}
	for _, tn := range f.Tensors {
		out[tn.Name] = tn
	}
	return out
}

func float32s(tn safetensors.Tensor) []float32 {
	out := make([]float32, len(tn.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[4*i:]))
	}
	return out
}

// gaussW2 is the W2 distance between two diagonal Gaussians, from the
// per-axis means and standard deviations.
func gaussW2(m1, s1, m2, s2 []float64) float64 {
	var d float64
	for i := range m1 {
		d += (m1[i]-m2[i])*(m1[i]-m2[i]) + (s1[i]-s2[i])*(s1[i]-s2[i])
	}
	return math.Sqrt(d)
}

// gan (non-saturating, its default rates) and wgan-gp, trained for a few hundred steps on a
// 2-D Gaussian, draw samples (from the EMA of G) whose means and standard
// deviations approach the data's: each within a fraction of the data's
// scale, and the Gaussian W2 to the data at most a fifth of what the
// untrained generator had. wgan-gp's vector defaults are TTUR (the critic
// 5x faster than G): at equal rates, a few hundred steps leave G circling
// the data. Its
// spread grows slowly (the critic's slopes are held near 1, also where
// p_g is already close: WGAN-GP's equilibrium is not locally attracting,
// Mescheder et al. 2018), so its sd gets a wider tolerance.
func TestTrainMoments(t *testing.T) {
	mu, s := []float64{1, -2}, []float64{0.5, 1.2}
	tests := []struct {
		kind    string
		steps   int
		options map[string]any
		sdTol   float64 // relative
		slow    bool
	}{
		{"gan", 800, nil, 0.2, false},
		{"wgan-gp", 800, nil, 0.35, true},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("about 12 s")
			}
			moments := func(steps int) (m, sd []float64) {
				cfg := gaussConfig(t, tc.kind, mu, s)
				cfg.Steps = steps
				for k, v := range tc.options {
					cfg.Set(k, v)
				}
				if _, err := train.Train(context.Background(), cfg, quiet()); err != nil {
					t.Fatal(err)
				}
				sess, err := runs.Open(cfg.Out, "")
				if err != nil {
					t.Fatal(err)
				}
				defer sess.Close()
				sm, err := sess.Sample(runs.SampleOptions{N: 4000, Class: -1, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				for d := range mu {
					a, b := modeltest.MeanSD(sm.X, 4000, 2, d)
					m, sd = append(m, a), append(sd, b)
				}
				if steps > 1 {
					ms, err := sess.Run.ReadMetrics()
					if err != nil || len(ms) == 0 {
						t.Fatalf("metrics: %v", err)
					}
					last := ms[len(ms)-1]
					t.Logf("last metrics: losses %v values %v", last.Losses, last.Values)
					if len(last.Losses) != 2 || len(last.Values) == 0 {
						t.Errorf("metrics lack both players' losses or the D diagnostics: %+v", last)
					}
				}
				return m, sd
			}
			m0, s0 := moments(1)
			m, sd := moments(tc.steps)
			w0, w := gaussW2(m0, s0, mu, s), gaussW2(m, sd, mu, s)
			t.Logf("untrained: mean %.3f sd %.3f (W2 %.3f); after %d steps: mean %.3f sd %.3f (W2 %.3f); data mean %v sd %v",
				m0, s0, w0, tc.steps, m, sd, w, mu, s)
			for d := range mu {
				if math.Abs(m[d]-mu[d]) > 0.2*s[d]+0.05 || math.Abs(sd[d]-s[d]) > tc.sdTol*s[d] {
					t.Errorf("axis %d: mean %.3f sd %.3f, want about %g and %g", d, m[d], sd[d], mu[d], s[d])
				}
			}
			if w > 0.2*w0 {
				t.Errorf("W2 to the data %.3f after training, %.3f before: want at most a fifth", w, w0)
			}
		})
	}
}

// WGAN's critic is trained with RMSProp (second moments only, no Adam
// first moments) and its weights are clipped to [−c, c] after every update:
// after training every critic weight lies in [−c, c] and many sit on the
// bound (the initial weights are far larger than c = 0.01).
func TestWGANClipsWithRMSProp(t *testing.T) {
	cfg := gaussConfig(t, "wgan", []float64{0, 0}, []float64{1, 1})
	cfg.Steps = 4
	cfg.Set("clip", 0.02)
	if _, err := train.Train(context.Background(), cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	ck := checkpoint(t, cfg.Out, cfg.Steps)
	var weights, onBound int
	for name, tn := range ck {
		switch {
		case strings.Contains(name, "_1st_moment") && strings.Contains(name, "disc/"):
			t.Errorf("critic has an Adam first moment %s: not RMSProp", name)
		case strings.HasPrefix(name, "disc/") && !strings.Contains(name, "ptimizer"):
			for _, v := range float32s(tn) {
				weights++
				if math.Abs(float64(v)) > 0.02+1e-9 {
					t.Fatalf("critic weight %s = %g outside [−0.02, 0.02]", name, v)
				}
				if math.Abs(float64(v)) == float64(float32(0.02)) {
					onBound++
				}
			}
		}
	}
	var second int
	for name := range ck {
		if strings.Contains(name, "disc/") && strings.HasSuffix(name, "_2nd_moment") {
			second++
		}
	}
	t.Logf("%d critic weights, %d on the bound; %d RMSProp second moments", weights, onBound, second)
	if weights == 0 || onBound < weights/10 || second == 0 {
		t.Errorf("%d critic weights, %d on the clipping bound, %d second moments", weights, onBound, second)
	}
	if st := ck["disc/AdamOptimizer/step"]; len(st.Data) == 4 {
		if got := float32s(st)[0]; got != float32(5*cfg.Steps) {
			t.Errorf("critic optimizer steps %v, want %d (n_critic = 5 per step)", got, 5*cfg.Steps)
		}
	}
}

// A conditional GAN on ring8 (labels = the mode) learns to put class k's
// samples at mode k.
func TestConditionalRing8(t *testing.T) {
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "gan", "ring8", filepath.Join(t.TempDir(), "run")
	cfg.Steps, cfg.Batch, cfg.Warmup, cfg.LogEvery, cfg.CheckpointEvery = 400, 128, 10, 50, 0
	cfg.Set("hidden", []int{64, 64})
	if _, err := train.Train(context.Background(), cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	sess, err := runs.Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sm, err := sess.Sample(runs.SampleOptions{N: 800, Class: -1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	centers := data.RingCenters()
	hit := 0
	for i, y := range sm.Labels {
		best, bd := -1, math.Inf(1)
		for k, c := range centers {
			if d := math.Hypot(float64(sm.X[2*i])-c[0], float64(sm.X[2*i+1])-c[1]); d < bd {
				best, bd = k, d
			}
		}
		if best == int(y) {
			hit++
		}
	}
	t.Logf("%d of %d samples nearest the mode of their class", hit, len(sm.Labels))
	if hit < len(sm.Labels)*9/10 {
		t.Errorf("only %d of %d class-conditional samples are nearest their class's mode", hit, len(sm.Labels))
	}
}

// A GAN run killed between checkpoints and resumed ends with the same
// bytes, tensor for tensor, as one never interrupted: both players, both
// optimizers' state, the EMA, the RNG and the batcher (conditional gan on
// labelled data; wgan with its RMSProp critic, weight clipping and k = 5).
func TestKillAndResumeIsBitIdentical(t *testing.T) {
	for _, kind := range []string{"gan", "wgan"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			config := func(out string) runs.Config {
				cfg := runs.DefaultConfig()
				cfg.Model, cfg.Data, cfg.Out = kind, "ring8", out
				cfg.Steps, cfg.Batch, cfg.Warmup, cfg.LogEvery, cfg.CheckpointEvery = 30, 32, 5, 5, 10
				cfg.Set("hidden", []int{16, 16})
				return cfg
			}
			a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
			if _, err := train.Train(context.Background(), config(a), quiet()); err != nil {
				t.Fatal(err)
			}
			o := quiet()
			o.StopAfter = 17
			if _, err := train.Train(context.Background(), config(b), o); !errors.Is(err, train.ErrStopped) {
				t.Fatalf("stopped run: err = %v, want ErrStopped", err)
			}
			if _, err := train.Resume(context.Background(), b, quiet()); err != nil {
				t.Fatal(err)
			}
			ca, cb := checkpoint(t, a, 30), checkpoint(t, b, 30)
			if len(ca) != len(cb) || len(ca) == 0 {
				t.Fatalf("checkpoints hold %d and %d tensors", len(ca), len(cb))
			}
			var players [2]bool
			for name, v := range ca {
				players[0] = players[0] || strings.HasPrefix(name, "gen/")
				players[1] = players[1] || strings.HasPrefix(name, "disc/")
				if string(v.Data) != string(cb[name].Data) {
					t.Errorf("tensor %s differs after kill and resume", name)
				}
			}
			if !players[0] || !players[1] {
				t.Errorf("checkpoint lacks a player (gen %v, disc %v)", players[0], players[1])
			}
		})
	}
}

// The image models (conv dcgan and wgan-gp, whose penalty is a second-order
// gradient through the conv critic, and the MLP gan) run through the loop
// on Fashion-MNIST, conditional on its 10 classes, and sample images in
// the data's [0, 1] range with one class per grid row.
func TestImageModelsTrain(t *testing.T) {
	for _, kind := range []string{"dcgan", "wgan-gp", "gan"} {
		t.Run(kind, func(t *testing.T) {
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data, cfg.Out = kind, "fashion-mnist-mini", filepath.Join(t.TempDir(), "run")
			cfg.Steps, cfg.Batch, cfg.Warmup, cfg.LogEvery, cfg.CheckpointEvery = 3, 8, 1, 1, 0
			cfg.Set("channels", []int{8, 16})
			cfg.Set("hidden", []int{32})
			cfg.Set("latent", 16)
			if kind == "wgan-gp" {
				cfg.Set("d-steps", 2)
			}
			if _, err := train.Train(context.Background(), cfg, quiet()); err != nil {
				t.Fatal(err)
			}
			sess, err := runs.Open(cfg.Out, "")
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			ms, _ := sess.Run.ReadMetrics()
			if len(ms) != 3 {
				t.Fatalf("%d metrics lines, want 3", len(ms))
			}
			for _, v := range ms[2].Values {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("metric values %v", ms[2].Values)
				}
			}
			sm, err := sess.Sample(runs.SampleOptions{N: 20, Class: -1, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(sm.X) != 20*28*28 || len(sm.Labels) != 20 || sm.Labels[0] != 0 || sm.Labels[19] != 9 {
				t.Fatalf("%d values, labels %v", len(sm.X), sm.Labels)
			}
			for _, v := range sm.X {
				if v < 0 || v > 1 {
					t.Fatalf("pixel %g outside [0, 1]", v)
				}
			}
			if err := sess.WritePreview("check.png"); err != nil {
				t.Error(err)
			}
		})
	}
}
