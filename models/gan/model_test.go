package gan

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn/nntest"
)

var (
	vectors2D = models.DataInfo{Shape: []int{2}}
	labeled2D = models.DataInfo{Shape: []int{2}, NumClasses: 8}
	images28  = models.DataInfo{Shape: []int{28, 28, 1}, NumClasses: 10}
)

// Every model is registered with its paper's defaults, and its phases are
// [discriminator or critic: scope disc, k = d-steps updates; generator:
// scope gen] with the paper's optimizer, no gradient clipping, and the
// weight clipping hook only on wgan.
func TestRegisteredPhases(t *testing.T) {
	tests := []struct {
		name   string
		info   models.DataInfo
		dName  string
		k      int
		opt    models.Optimizer
		net    string
		after  bool
		values []string // the D phase's metrics
		gLR    float64  // the generator's rate when it differs from D's
	}{
		{"gan", vectors2D, "discriminator", 1, models.Optimizer{Kind: "adam", LR: 1e-3, Beta1: 0.5, Beta2: 0.999, ClipNorm: -1}, NetMLP, false, []string{"d_fake", "d_real"}, 0},
		{"gan", images28, "discriminator", 1, models.Optimizer{Kind: "adam", LR: 2e-4, Beta1: 0.5, Beta2: 0.999, ClipNorm: -1}, NetMLP, false, []string{"d_fake", "d_real"}, 0},
		{"dcgan", images28, "discriminator", 1, models.Optimizer{Kind: "adam", LR: 2e-4, Beta1: 0.5, Beta2: 0.999, ClipNorm: -1}, NetConv, false, []string{"d_fake", "d_real"}, 0},
		{"wgan", vectors2D, "critic", 5, models.Optimizer{Kind: "rmsprop", LR: 5e-5, Beta2: 0.99, ClipNorm: -1}, NetMLP, true, []string{"w1"}, 0},
		{"wgan", images28, "critic", 5, models.Optimizer{Kind: "rmsprop", LR: 5e-5, Beta2: 0.99, ClipNorm: -1}, NetConv, true, []string{"w1"}, 0},
		{"wgan-gp", vectors2D, "critic", 5, models.Optimizer{Kind: "adam", LR: 1e-3, Beta1: 0.5, Beta2: 0.9, ClipNorm: -1}, NetMLP, false, []string{"gp", "w1"}, 2e-4},
		{"wgan-gp", images28, "critic", 5, models.Optimizer{Kind: "adam", LR: 1e-4, Beta1: 0.5, Beta2: 0.9, ClipNorm: -1}, NetConv, false, []string{"gp", "w1"}, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v", tc.name, tc.info.Shape), func(t *testing.T) {
			e, err := models.Lookup(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if e.Family != "adversarial" || e.Description == "" || e.SampleOptions != nil {
				t.Errorf("entry: family %q, description %q, sample options %v", e.Family, e.Description, e.SampleOptions)
			}
			mm, err := models.New(tc.name, nil, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			m := mm.(*Model)
			if m.cfg.Net != tc.net {
				t.Errorf("net %s, want %s", m.cfg.Net, tc.net)
			}
			if m.NumClasses() != tc.info.NumClasses {
				t.Errorf("conditional by default on labelled data: %d classes, want %d", m.NumClasses(), tc.info.NumClasses)
			}
			caps := models.Capabilities(m)
			for _, c := range []string{"sample", "own-step"} {
				if !slices.Contains(caps, c) {
					t.Errorf("capabilities %v lack %s", caps, c)
				}
			}
			for _, c := range []string{"logprob", "codec", "bounds"} {
				if slices.Contains(caps, c) {
					t.Errorf("capabilities %v include %s", caps, c)
				}
			}
			ph := m.Phases()
			if len(ph) != 2 {
				t.Fatalf("%d phases, want 2", len(ph))
			}
			d, g := ph[0], ph[1]
			if d.Name != tc.dName || d.Scope != "disc" || d.Repeat != tc.k || d.Optimizer != tc.opt || d.Metrics == nil {
				t.Errorf("D phase %q scope %q repeat %d optimizer %+v; want %q, disc, %d, %+v", d.Name, d.Scope, d.Repeat, d.Optimizer, tc.dName, tc.k, tc.opt)
			}
			og := tc.opt
			if tc.gLR > 0 {
				og.LR = tc.gLR
			}
			if g.Name != "generator" || g.Scope != "gen" || g.Repeat > 1 || g.Optimizer != og || g.Loss == nil {
				t.Errorf("G phase %q scope %q repeat %d optimizer %+v", g.Name, g.Scope, g.Repeat, g.Optimizer)
			}
			if (d.After != nil) != tc.after || g.After != nil {
				t.Errorf("After hooks: D %v, G %v; want D %v", d.After != nil, g.After != nil, tc.after)
			}
			if tc.info.IsImage() && tc.net == NetConv {
				return // the metric names are checked on vectors (cheaper graphs)
			}
			store := newStore(1)
			var names []string
			model.MustExecOnceN(nntest.Backend(), store, func(scope *model.Scope, x, y *Node) []*Node {
				loss, ms := d.Metrics(scope, x, y)
				names = names[:0]
				out := []*Node{loss}
				for k, v := range ms {
					names = append(names, k)
					out = append(out, ReduceAllMean(v))
				}
				return out
			}, tensors.FromShape(shapesOf(append([]int{4}, tc.info.Shape...))), tensors.FromValue([]int32{0, 1, 2, 3}))
			slices.Sort(names)
			if !slices.Equal(names, tc.values) {
				t.Errorf("D phase metrics %v, want %v", names, tc.values)
			}
		})
	}
}

// Options that do not make sense are refused with a message before any
// work; the defaults and each model's own options resolve as documented.
func TestOptions(t *testing.T) {
	bad := []struct {
		model string
		info  models.DataInfo
		opts  map[string]any
		want  string
	}{
		{"gan", vectors2D, map[string]any{"d-steps": 0}, "d-steps must be >= 1"},
		{"wgan", vectors2D, map[string]any{"d-steps": -3}, "d-steps must be >= 1"},
		{"wgan", vectors2D, map[string]any{"clip": 0.0}, "clip must be > 0"},
		{"wgan", vectors2D, map[string]any{"clip": -0.01}, "clip must be > 0"},
		{"wgan-gp", vectors2D, map[string]any{"gp": -1.0}, "gp must be >= 0"},
		{"gan", vectors2D, map[string]any{"g-loss": "hinge"}, "unknown g-loss"},
		{"gan", vectors2D, map[string]any{"clip": 0.01}, "has no option clip"},
		{"wgan", vectors2D, map[string]any{"g-loss": "ns"}, "has no option g-loss"},
		{"wgan-gp", vectors2D, map[string]any{"clip": 0.01}, "has no option clip"},
		{"gan", vectors2D, map[string]any{"lr-d": -1.0}, "lr-d and lr-g must be >= 0"},
		{"gan", vectors2D, map[string]any{"latent": -2}, "latent must be >= 1"},
		{"gan", vectors2D, map[string]any{"hidden": []int{8, 0}}, "layer widths must be >= 1"},
		{"gan", vectors2D, map[string]any{"net": "resnet"}, "unknown net"},
		{"wgan-gp", vectors2D, map[string]any{"net": "conv"}, "net conv needs images"},
		{"dcgan", vectors2D, nil, "dcgan needs images"},
		{"dcgan", images28, map[string]any{"net": "mlp"}, "dcgan is convolutional"},
		{"dcgan", images28, map[string]any{"channels": []int{8, 8, 8}}, "divisible by 8"},
		{"gan", models.DataInfo{Shape: []int{2, 3}}, nil, "needs vectors [D] or images"},
	}
	for _, tc := range bad {
		if _, err := models.New(tc.model, tc.opts, tc.info); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want one containing %q", tc.model, tc.opts, err, tc.want)
		}
	}

	good := []struct {
		model string
		info  models.DataInfo
		opts  map[string]any
		check func(c Config) bool
	}{
		{"gan", vectors2D, nil, func(c Config) bool {
			return c.DSteps == 1 && c.GLoss == NonSaturating && c.Latent == 16 && slices.Equal(c.Hidden, DefaultHidden) && c.NumClasses == 0
		}},
		{"gan", labeled2D, map[string]any{"conditional": false, "g-loss": "minimax", "d-steps": 3}, func(c Config) bool {
			return c.NumClasses == 0 && c.GLoss == Minimax && c.DSteps == 3
		}},
		{"dcgan", images28, nil, func(c Config) bool {
			return c.Latent == 100 && slices.Equal(c.Channels, DefaultChannels) && c.NumClasses == 10
		}},
		{"wgan", vectors2D, nil, func(c Config) bool { return c.Clip == 0.01 && c.DSteps == 5 }},
		{"wgan-gp", vectors2D, map[string]any{"gp": 0.0}, func(c Config) bool { return c.GP == 0 }},
		{"wgan-gp", vectors2D, nil, func(c Config) bool { return c.GP == 10 && c.DSteps == 5 }},
		{"gan", images28, map[string]any{"net": "conv", "channels": []int{8}}, func(c Config) bool {
			return c.Net == NetConv && slices.Equal(c.Channels, []int{8})
		}},
	}
	for _, tc := range good {
		m, err := models.New(tc.model, tc.opts, tc.info)
		if err != nil {
			t.Errorf("%s %v: %v", tc.model, tc.opts, err)
			continue
		}
		if c := m.(*Model).Config(); !tc.check(c) {
			t.Errorf("%s %v: resolved to %+v", tc.model, tc.opts, c)
		}
	}

	// TTUR: lr-d and lr-g replace the model's rates, nothing else.
	m, err := models.New("wgan-gp", map[string]any{"lr-d": 4e-4, "lr-g": 1e-4}, vectors2D)
	if err != nil {
		t.Fatal(err)
	}
	d, g := m.(*Model).Optimizers()
	if d.LR != 4e-4 || g.LR != 1e-4 || d.Beta2 != 0.9 || d.Kind != "adam" {
		t.Errorf("TTUR optimizers %+v and %+v", d, g)
	}
	// The options' types agree with the other families' (one CLI flag each).
	if _, err := models.AllOptions(false); err != nil {
		t.Error(err)
	}
}

// sampleRuntime builds m's variables in a fresh store (one generator pass)
// and returns a runtime over them.
func sampleRuntime(t *testing.T, m *Model) *models.Runtime {
	t.Helper()
	store := newStore(1)
	model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, z, y *Node) *Node {
		return m.Generator(scope, z, y)
	}, tensors.FromShape(shapesOf([]int{2, m.Latent()})), tensors.FromValue([]int32{0, 0}))
	return &models.Runtime{Backend: nntest.Backend(), Store: store, Scope: store.RootScope}
}

// Sampling is one pass through G from models.Noise: the same seed gives the
// same samples whatever N (so whatever the batch), another seed others;
// images are clipped to the requested range; labels steer a conditional
// model and are refused by an unconditional one.
func TestSample(t *testing.T) {
	m := newTestModel(t, Config{Kind: KindGAN, Common: Common{Hidden: []int{16}, Latent: 4, Conditional: true}}, labeled2D)
	rt := sampleRuntime(t, m)
	before := rt.Store.NumVariables()
	a, err := m.Sample(rt, models.SampleRequest{N: 3, Seed: 7, Labels: []int32{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int32, 1500) // two batches of 1000 rows, the second padded
	for i := range labels {
		labels[i] = int32(1 + i%3)
	}
	b, err := m.Sample(rt, models.SampleRequest{N: 1500, Seed: 7, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			t.Fatalf("sample %d: %v with N=3, %v with N=1500 (same seed)", i/2, a[i], b[i])
		}
	}
	if rt.Store.NumVariables() != before {
		t.Error("sampling created variables")
	}
	c, _ := m.Sample(rt, models.SampleRequest{N: 3, Seed: 8, Labels: []int32{1, 2, 3}})
	if slices.Equal(a, c) {
		t.Error("another seed gave the same samples")
	}
	other, _ := m.Sample(rt, models.SampleRequest{N: 3, Seed: 7, Labels: []int32{4, 4, 4}})
	if slices.Equal(a, other) {
		t.Error("the class does not change the samples")
	}
	cycled, err := m.Sample(rt, models.SampleRequest{N: 8, Seed: 7})
	if err != nil || len(cycled) != 16 {
		t.Fatalf("conditional sampling without labels: %v (%d values)", err, len(cycled))
	}
	for _, tc := range []struct {
		req  models.SampleRequest
		want string
	}{
		{models.SampleRequest{N: 0}, "at least 1 sample"},
		{models.SampleRequest{N: 2, Labels: []int32{1}}, "got 1 labels for 2 samples"},
		{models.SampleRequest{N: 1, Labels: []int32{8}}, "out of range"},
		{models.SampleRequest{N: 1, Options: models.TemperatureOptions{}}, "no sampling options"},
	} {
		if _, err := m.Sample(rt, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.req, err, tc.want)
		}
	}

	u := newTestModel(t, Config{Kind: KindWGANGP, GP: 10, Common: Common{Hidden: []int{8}, Latent: 3, Conditional: false}}, labeled2D)
	urt := sampleRuntime(t, u)
	if _, err := u.Sample(urt, models.SampleRequest{N: 2, Labels: []int32{0, 1}}); err == nil || !strings.Contains(err.Error(), "unconditional") {
		t.Errorf("labels on an unconditional model: %v", err)
	}
	if _, err := u.Sample(urt, models.SampleRequest{N: 2}); err != nil {
		t.Error(err)
	}

	img := newTestModel(t, Config{Kind: KindDCGAN, Common: Common{Channels: []int{4, 4}, Latent: 8}}, models.DataInfo{Shape: []int{8, 8, 1}})
	irt := sampleRuntime(t, img)
	for _, r := range []models.Range{{Lo: -1, Hi: 1}, {Lo: 0, Hi: 1}} {
		x, err := img.Sample(irt, models.SampleRequest{N: 6, Seed: 1, Clip: r})
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != 6*64 || slices.Min(x) < r.Lo || slices.Max(x) > r.Hi {
			t.Errorf("clip %v: %d values in [%g, %g]", r, len(x), slices.Min(x), slices.Max(x))
		}
	}
}

// The WGAN critic has no sigmoid: its scores are unbounded reals (here
// below 0 and above 1 on spread inputs), and the logged w1 is their raw
// mean difference; the GAN discriminator's d_real and d_fake are
// probabilities.
func TestCriticHasNoSigmoid(t *testing.T) {
	for _, kind := range []string{KindWGAN, KindWGANGP} {
		c := Config{Kind: kind, Clip: 0.01, GP: 10, Common: Common{DSteps: 5, Hidden: []int{32, 32}}}
		m := newTestModel(t, c, vectors2D)
		store := newStore(4)
		xs := make([]float32, 400)
		for i := range xs {
			xs[i] = float32(20 * math.Sin(float64(i)*1.7))
		}
		s := floats(model.MustExecOnce(nntest.Backend(), store, func(scope *model.Scope, x *Node) *Node {
			return m.Discriminator(scope, x, nil)
		}, tensors.FromFlatDataAndDimensions(xs, 200, 2)))
		if slices.Min(s) >= 0 || slices.Max(s) <= 1 {
			t.Errorf("%s critic scores lie in [%g, %g]: a sigmoid?", kind, slices.Min(s), slices.Max(s))
		}
		outs := model.MustExecOnceN(nntest.Backend(), store, func(scope *model.Scope, x *Node) []*Node {
			loss, ms := m.discriminatorStep(scope, x, nil)
			return []*Node{loss, ms["w1"]}
		}, tensors.FromFlatDataAndDimensions(xs, 200, 2))
		loss, w1 := floats(outs[0])[0], floats(outs[1])[0]
		if kind == KindWGAN && loss != -w1 {
			t.Errorf("wgan critic loss %g, want −w1 = %g", loss, -w1)
		}
	}
}

func shapesOf(dims []int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
