package diffusion

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/models"
	"genmod/models/modeltest"
	"genmod/runs"
	"genmod/train"
)

// The graph coefficients used in training must equal the host ones used in
// sampling, and DDPM's a² must be Π(1 − β_i).
func TestGraphCoefsMatchHost(t *testing.T) {
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	ts := []float32{0.001, 0.013, 0.25, 0.5, 0.731, 1}
	for _, p := range testPaths(t) {
		out, err := model.ExecOnceN(backend, model.NewStore(), func(_ *model.Scope, t *Node) []*Node {
			a, b, da, db := p.GraphCoefs(t)
			return []*Node{a, b, da, db}
		}, tensors.FromFlatDataAndDimensions(ts, len(ts)))
		if err != nil {
			t.Fatal(err)
		}
		for i, tt := range ts {
			host := make([]float64, 4)
			host[0], host[1], host[2], host[3] = p.Coefs(float64(tt))
			if d, ok := p.(*DDPM); ok { // graph reads the nearest grid step
				step := math.Round(float64(tt) * DDPMSteps)
				host[0], host[1], host[2], host[3] = d.Coefs(step / DDPMSteps)
			}
			for k, o := range out {
				got := float64(tensors.MustCopyFlatData[float32](o)[i])
				if math.Abs(got-host[k]) > 1e-4*(1+math.Abs(host[k])) {
					t.Errorf("%s coef %d at t=%g: graph %g, host %g", p.Name(), k, tt, got, host[k])
				}
			}
		}
	}
	d, _ := NewDDPM("linear", DDPMSteps)
	prod := 1.0
	for i := 1; i <= DDPMSteps; i++ {
		prod *= 1 - (1e-4 + (0.02-1e-4)*float64(i-1)/(DDPMSteps-1))
		a, b, _, _ := d.Coefs(float64(i) / DDPMSteps)
		if math.Abs(a*a-prod) > 1e-9 || math.Abs(a*a+b*b-1) > 1e-9 {
			t.Fatalf("step %d: a² = %g, b² = %g, want ᾱ = %g and a²+b² = 1", i, a*a, b*b, prod)
		}
	}
	// The derivatives are those of the coefficients.
	for _, p := range testPaths(t) {
		for _, tt := range []float64{0.2037, 0.6011} {
			a0, b0, _, _ := p.Coefs(tt - 1e-6)
			a1, b1, _, _ := p.Coefs(tt + 1e-6)
			_, _, da, db := p.Coefs(tt)
			if math.Abs((a1-a0)/2e-6-da) > 1e-3*(1+math.Abs(da)) || math.Abs((b1-b0)/2e-6-db) > 1e-3*(1+math.Abs(db)) {
				t.Errorf("%s at t=%g: a' %g b' %g, finite differences %g %g", p.Name(), tt, da, db, (a1-a0)/2e-6, (b1-b0)/2e-6)
			}
		}
	}
}

// Every target can be turned back into x̂ and ẑ exactly.
func TestSplitPredictionInvertsEveryTarget(t *testing.T) {
	x, z := []float32{0.3, -1.2}, []float32{-0.7, 0.4}
	for _, p := range testPaths(t) {
		for _, name := range Targets() {
			tg := Target(name)
			if checkInvertible(p, tg) != nil {
				continue
			}
			tt := 0.37
			a, b, da, db := p.Coefs(tt)
			c, d := tg.Coefs(a, b, da, db)
			xt, y := make([]float32, 2), make([]float32, 2)
			for i := range x {
				xt[i] = float32(a*float64(x[i]) + b*float64(z[i]))
				y[i] = float32(c*float64(z[i]) + d*float64(x[i]))
			}
			xh, zh := make([]float32, 2), make([]float32, 2)
			SplitPrediction(xt, y, a, b, c, d, xh, zh)
			for i := range x {
				if math.Abs(float64(xh[i]-x[i])) > 1e-4 || math.Abs(float64(zh[i]-z[i])) > 1e-4 {
					t.Errorf("%s/%s: got x̂=%v ẑ=%v, want %v %v", p.Name(), tg, xh, zh, x, z)
				}
			}
		}
	}
	if err := checkInvertible(Linear{}, Eps); err == nil {
		t.Error("ε-prediction on the linear path accepted: x cannot be recovered at t = 1")
	}
}

// Classifier-free guidance needs no training to check: for any weights,
// f_cfg(w) = (1+w)·f_y − w·f_∅, so w = 0 is the conditional prediction.
func TestGuidanceCombinesConditionalAndNull(t *testing.T) {
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	mm, err := models.New("vp", Options{Conditional: true, Hidden: []int{16, 16}, TimeDim: 8}, models.DataInfo{Shape: []int{3}, NumClasses: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*Model)
	store := model.NewStore()
	store.SetRNGStateFromSeed(1)
	store.SetParam(model.ParamInitialSeed, int64(5))
	x := tensors.FromFlatDataAndDimensions([]float32{0.1, -0.2, 0.3, 1, 0.5, -1}, 2, 3)
	y := tensors.FromFlatDataAndDimensions([]int32{1, 3}, 2)
	predict := func(guided bool, w float32, labels *tensors.Tensor) []float32 {
		out, err := model.ExecOnce(backend, store, func(scope *model.Scope, x, l, w *Node) *Node {
			g := x.Graph()
			return m.Predict(scope, x, Scalar(g, x.DType(), 0.3), Scalar(g, x.DType(), 1), l, guided, w)
		}, x, labels, w)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	fy := predict(false, 0, y)
	f0 := predict(false, 0, tensors.FromFlatDataAndDimensions([]int32{4, 4}, 2)) // null class
	w0 := predict(true, 0, y)
	w1 := predict(true, 1, y)
	for i := range fy {
		if math.Abs(float64(w0[i]-fy[i])) > 1e-6 {
			t.Errorf("w=0: f_cfg[%d]=%g, want f_y=%g", i, w0[i], fy[i])
		}
		if want := 2*fy[i] - f0[i]; math.Abs(float64(w1[i]-want)) > 1e-5 {
			t.Errorf("w=1: f_cfg[%d]=%g, want 2f_y-f_∅=%g", i, w1[i], want)
		}
	}
}

// Bad requests fail before any work starts, with a message that says why.
func TestRejectsBadRequests(t *testing.T) {
	info := models.DataInfo{Shape: []int{2}, NumClasses: 3}
	build := func(name string, o Options) *Model {
		m, err := models.New(name, o, info)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*Model)
	}
	cond := build("ddpm", Options{Conditional: true})
	uncond := build("ddpm", Options{})
	rf := build("rf", Options{})
	labels := []int32{0, 1}
	for _, c := range []struct {
		name string
		m    *Model
		req  models.SampleRequest
		want string
	}{
		{"negative steps", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Steps: -1}}, "steps"},
		{"eta above 1", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "ddim", Eta: 1.5}}, "eta"},
		{"eta negative", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "ddim", Eta: -0.1}}, "eta"},
		{"eta with euler", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "euler", Eta: 0.5}}, "ddim"},
		{"unknown sampler", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "dpm++"}}, "unknown sampler"},
		{"sde on the linear path", rf, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "sde"}}, "sde"},
		{"more ddim steps than T", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "ddim", Steps: 2000}}, "at most 1000"},
		{"bad variance", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Sampler: "ddpm", Variance: "big"}}, "variance"},
		{"class out of range", cond, models.SampleRequest{N: 2, Labels: []int32{0, 3}}, "out of range"},
		{"cfg unconditional", uncond, models.SampleRequest{N: 2, Options: SampleOptions{Guidance: 2}}, "unconditional"},
		{"cfg without the null class", cond, models.SampleRequest{N: 2, Labels: labels, Options: SampleOptions{Guidance: 2}}, "null class"},
		{"class unconditional", uncond, models.SampleRequest{N: 2, Labels: labels}, "unconditional"},
		{"no class for conditional", cond, models.SampleRequest{N: 2}, "class-conditional"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A nil runtime proves that nothing runs before validation fails.
			_, err := c.m.Sample(nil, c.req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"eps on linear", Options{Target: "eps"}, "cannot recover"},
		{"unknown target", Options{Target: "score"}, "unknown target"},
		{"schedule on rf", Options{Schedule: "cosine"}, "schedule"},
	} {
		if _, err := models.New("rf", c.o, info); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := models.New("ddpm", Options{Schedule: "quadratic"}, info); err == nil {
		t.Error("unknown schedule accepted")
	}
}

// Trained end to end through the real loop on N(μ, diag(s²)), each model
// must sample that Gaussian, also after the dataset file is gone.
func TestLearnsAGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	mu, s := []float64{2, -1}, []float64{0.5, 1.5}
	for _, c := range []struct{ model, target, sampler string }{
		{"rf", "", "euler"},
		{"ddpm", "", "ddim"},
		{"vp", "v", "rk45"},
	} {
		t.Run(c.model+"/"+c.target, func(t *testing.T) {
			dir := t.TempDir()
			_, file := modeltest.GaussianNPY(t, dir, mu, s, 4000, 11)
			cfg := runs.DefaultConfig()
			cfg.Model, cfg.Data, cfg.Out = c.model, "npy:"+file, filepath.Join(dir, "run")
			if c.target != "" {
				cfg.Set("target", c.target)
			}
			cfg.Steps, cfg.Batch, cfg.LR, cfg.LogEvery = 600, 128, 3e-3, 0
			cfg.Set("hidden", []int{64, 64})
			if _, err := train.Train(context.Background(), cfg, train.Options{Log: discard{}}); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			sess, err := runs.Open(cfg.Out, "")
			if err != nil {
				t.Fatal(err)
			}
			o := runs.SampleOptions{N: 4000, Class: -1, Seed: 2, Model: SampleOptions{Steps: 50, Sampler: c.sampler}}
			if c.sampler == "rk45" {
				o.Model = SampleOptions{Sampler: c.sampler, RTol: 1e-3, ATol: 1e-3}
			}
			sm, err := sess.Sample(o)
			if err != nil {
				t.Fatal(err)
			}
			modeltest.CheckMoments(t, sm.X, sm.N, mu, s, 0.1, 0.05, 0.15)
			// The probability-flow likelihood of fresh data points must be
			// close to their exact log-density (on average, in nats).
			const n = 200
			pts := models.Noise(n, 2, 99)
			exact := 0.0
			for i := range pts {
				z := float64(pts[i])
				pts[i] = float32(mu[i%2] + s[i%2]*z)
				exact += (-0.5*z*z - math.Log(s[i%2]) - 0.5*math.Log(2*math.Pi)) / n
			}
			lp, err := sess.LogProb(pts, n, 2)
			if err != nil {
				t.Fatal(err)
			}
			got := 0.0
			for _, v := range lp {
				got += v / n
			}
			if math.Abs(got-exact) > 0.1 {
				t.Errorf("mean log p = %.3f nats, exact %.3f", got, exact)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Few-step students of a rectified flow fitted to N(μ, diag(s²)): with one
// Euler step the teacher collapses to the mean (x̂ = E[x | z] = μ for a
// Gaussian); reflow must restore the spread at 1 step, and progressive
// distillation from 4 to 2 steps must sample the Gaussian at 2 steps.
func TestDistillationGivesFewStepSamplers(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	mu, s := []float64{2, -1}, []float64{0.5, 1.5}
	_, file := modeltest.GaussianNPY(t, dir, mu, s, 4000, 11)
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "rf", "npy:"+file, filepath.Join(dir, "teacher")
	cfg.Steps, cfg.Batch, cfg.LR, cfg.LogEvery = 500, 128, 3e-3, 0
	cfg.Set("hidden", []int{64, 64})
	if _, err := train.Train(context.Background(), cfg, train.Options{Log: discard{}}); err != nil {
		t.Fatal(err)
	}
	sample := func(run string, steps int) []float32 {
		sess, err := runs.Open(run, "")
		if err != nil {
			t.Fatal(err)
		}
		sm, err := sess.Sample(runs.SampleOptions{N: 4000, Class: -1, Seed: 3, Model: SampleOptions{Steps: steps}})
		if err != nil {
			t.Fatal(err)
		}
		return sm.X
	}
	if _, sd := modeltest.MeanSD(sample(cfg.Out, 1), 4000, 2, 1); sd > 0.5*s[1] {
		t.Fatalf("the teacher's 1-step samples have sd %.3f: expected a collapse towards the mean", sd)
	}
	// Reflow: 1 step must now give the Gaussian itself.
	st := cfg
	st.Out, st.Teacher, st.Distill = filepath.Join(dir, "reflow"), cfg.Out, "reflow"
	st.DistillSteps, st.TeacherSteps, st.Steps, st.LR, st.Warmup = 1, 8, 300, 1e-3, 10
	if _, err := train.Train(context.Background(), st, train.Options{Log: discard{}}); err != nil {
		t.Fatal(err)
	}
	modeltest.CheckMoments(t, sample(st.Out, 0), 4000, mu, s, 0.15, 0.1, 0.2)
	// ... because its paths are straighter (Liu et al.'s S drops).
	straightness := func(run string) float64 {
		sess, err := runs.Open(run, "")
		if err != nil {
			t.Fatal(err)
		}
		m := sess.Model.(interface {
			Straightness(*models.Runtime, models.SampleRequest, int) (float64, error)
		})
		v, err := m.Straightness(sess.Runtime(true), models.SampleRequest{N: 1000, Seed: 4}, 20)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sBefore, sAfter := straightness(cfg.Out), straightness(st.Out)
	t.Logf("straightness: teacher %.4f, reflowed %.4f", sBefore, sAfter)
	if sAfter > 0.5*sBefore {
		t.Errorf("straightness %.4f after reflow, %.4f before: paths did not straighten", sAfter, sBefore)
	}
	// Progressive, one round: the student's 2 DDIM steps must match the
	// teacher's 4 (what it is trained to reproduce), not the teacher's 2.
	st.Out, st.Distill, st.DistillSteps, st.TeacherSteps = filepath.Join(dir, "progressive"), "progressive", 2, 2
	if _, err := train.Train(context.Background(), st, train.Options{Log: discard{}}); err != nil {
		t.Fatal(err)
	}
	_, want := modeltest.MeanSD(sample(cfg.Out, 4), 4000, 2, 1)
	_, before := modeltest.MeanSD(sample(cfg.Out, 2), 4000, 2, 1)
	_, got := modeltest.MeanSD(sample(st.Out, 0), 4000, 2, 1)
	t.Logf("sd of dim 1: teacher 2 steps %.3f, teacher 4 steps %.3f, student 2 steps %.3f", before, want, got)
	if math.Abs(got-want) > 0.5*math.Abs(before-want) {
		t.Errorf("student at 2 steps has sd %.3f; the teacher has %.3f at 4 steps and %.3f at 2", got, want, before)
	}
}

// The training graph's forward process q(x_t | x_0) = N(√ᾱ_t·x_0, (1−ᾱ_t)·I)
// (seed 003), checked on sampled moments at a few DDPM steps.
func TestForwardProcessMoments(t *testing.T) {
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	mm, err := models.New("ddpm", Options{}, models.DataInfo{Shape: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(*Model)
	const n, x0 = 100000, 0.7
	p := m.Path().(*DDPM)
	for _, step := range []int{1, 250, 999} {
		store := model.NewStore()
		store.SetRNGStateFromSeed(int64(step))
		out, err := model.ExecOnce(backend, store, func(scope *model.Scope, tt *Node) *Node {
			g := tt.Graph()
			x := AddScalar(Zeros(g, shapes.Make(dtypes.Float32, n, 1)), x0)
			z := scope.RandomNormal(g, x.Shape())
			return m.noised(x, z, BroadcastToDims(tt, n))
		}, float32(step)/DDPMSteps)
		if err != nil {
			t.Fatal(err)
		}
		xs := tensors.MustCopyFlatData[float32](out)
		var mean, v float64
		for _, x := range xs {
			mean += float64(x) / n
		}
		for _, x := range xs {
			v += (float64(x) - mean) * (float64(x) - mean) / n
		}
		ab := p.AlphaBar(step)
		wantMean, wantVar := math.Sqrt(ab)*x0, 1-ab
		if math.Abs(mean-wantMean) > 4*math.Sqrt(wantVar/n)+1e-6 || math.Abs(v/wantVar-1) > 0.02 {
			t.Errorf("step %d: x_t has mean %.5f var %.5g, want √ᾱ·x0 = %.5f and 1−ᾱ = %.5g", step, mean, v, wantMean, wantVar)
		}
	}
}

// The dit preset builds a Diffusion Transformer and trains a step on images.
func TestDiTModelTrainsAStep(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a transformer")
	}
	backend, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	info := models.DataInfo{Shape: []int{8, 8, 1}, NumClasses: 3}
	mm, err := models.New("dit", Options{Conditional: true, LabelDropout: 0.1, TimeDim: 8}, info)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetRNGStateFromSeed(1)
	x := tensors.FromFlatDataAndDimensions(make([]float32, 4*64), 4, 8, 8, 1)
	y := tensors.FromFlatDataAndDimensions([]int32{0, 1, 2, 0}, 4)
	out, err := model.ExecOnce(backend, store, func(scope *model.Scope, x, y *Node) *Node { return mm.Loss(scope, x, y) }, x, y)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh DiT outputs zero (adaLN-Zero), so the first loss is E‖z − x‖² = 1 on x = 0.
	if l := tensors.MustCopyFlatData[float32](out)[0]; l < 0.5 || l > 1.6 {
		t.Errorf("first loss %g, want about 1", l)
	}
	if _, err := models.New("dit", Options{}, models.DataInfo{Shape: []int{2}}); err == nil {
		t.Error("dit accepted vectors")
	}
	if _, err := models.New("dit", Options{}, models.DataInfo{Shape: []int{10, 10, 1}}); err == nil {
		t.Error("dit accepted 10x10 images (patch 4)")
	}
}
