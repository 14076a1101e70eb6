package flow

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
	"genmod/models"
	"genmod/models/modeltest"
	"genmod/runs"
	"genmod/train"
)

func testBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := engine.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seededStore(k int) *model.Store {
	s := model.NewStore()
	s.SetRNGStateFromSeed(int64(k) + 100)
	s.SetParam(model.ParamInitialSeed, int64(k))
	return s
}

// randRows returns n·d values N(0, sd²).
func randRows(n, d int, seed uint64, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]float64, n*d)
	for i := range out {
		out[i] = sd * rng.NormFloat64()
	}
	return out
}

// det computes the determinant of a small row-major d×d matrix (Laplace).
func det(a []float64, d int) float64 {
	if d == 1 {
		return a[0]
	}
	var s float64
	for j := 0; j < d; j++ {
		minor := make([]float64, 0, (d-1)*(d-1))
		for r := 1; r < d; r++ {
			for c := 0; c < d; c++ {
				if c != j {
					minor = append(minor, a[r*d+c])
				}
			}
		}
		sign := 1.0
		if j%2 == 1 {
			sign = -1
		}
		s += sign * a[j] * det(minor, d-1)
	}
	return s
}

// jacobian is ∂out/∂in [B, D, D] (row i = ∂out_i/∂in), by autodiff.
func jacobian(out, in *Node) *Node {
	d := out.Shape().Dimensions[1]
	rows := make([]*Node, d)
	for i := range rows {
		rows[i] = Gradient(ReduceAllSum(Slice(out, AxisRange(), AxisElem(i))), in)[0]
	}
	return Stack(rows, 1)
}

type layerCase struct {
	name   string
	layer  ForwardLayer
	preset func(scope *model.Scope, d int) // optional: sets variables before use
}

func layerCases() []layerCase {
	h := []int{8, 8}
	return []layerCase{
		{name: "additive/0", layer: AdditiveCoupling{Hidden: h, Parity: 0, OutStd: 0.5}},
		{name: "additive/1", layer: AdditiveCoupling{Hidden: h, Parity: 1, OutStd: 0.5}},
		{name: "scaling", layer: Scaling{}, preset: func(scope *model.Scope, d int) {
			s := make([]float64, d)
			for i := range s {
				s[i] = 0.3 - 0.4*float64(i)
			}
			scope.VariableWithValue("s", s)
		}},
		{name: "affine/0", layer: AffineCoupling{Hidden: h, Parity: 0, OutStd: 0.5}},
		{name: "affine/1", layer: AffineCoupling{Hidden: h, Parity: 1, OutStd: 0.5}},
		{name: "reverse", layer: ReverseDims{}},
		{name: "maf", layer: MAF{Hidden: h, OutStd: 0.5}},
		{name: "planar", layer: Planar{InitStd: 1}},
		{name: "radial", layer: Radial{}},
		{name: "inverted-planar", layer: Inverted{Planar{InitStd: 1}}},
		{name: "actnorm", layer: ActNorm{}, preset: presetActNorm},
		{name: "lu-linear", layer: InvConv1x1{Seed: 5}, preset: presetLU},
	}
}

// For every layer on D = 2 and 3 in float64: the returned log-det equals
// log|det J| of the autodiff Jacobian, in both directions, and where an
// inverse exists, inverse(forward(z)) = z and the two log-dets cancel.
func TestLayersInverseAndLogDet(t *testing.T) {
	backend := testBackend(t)
	const n = 5
	for _, d := range []int{2, 3} {
		for k, c := range layerCases() {
			inv, hasInverse := c.layer.(Layer)
			z := randRows(n, d, uint64(10*d+k), 1.2)
			outs, err := model.ExecOnceN(backend, seededStore(k+d), func(scope *model.Scope, z *Node) []*Node {
				if c.preset != nil {
					c.preset(scope, d)
				}
				x, ld := c.layer.Forward(scope, z)
				res := []*Node{x, ld, jacobian(x, z)}
				if hasInverse {
					xi := Identity(x)
					zb, ild := inv.Inverse(scope, xi)
					res = append(res, zb, ild, jacobian(zb, xi))
				}
				return res
			}, tensors.FromFlatDataAndDimensions(z, n, d))
			if err != nil {
				t.Fatalf("D=%d %s: %v", d, c.name, err)
			}
			x := tensors.MustCopyFlatData[float64](outs[0])
			ld := tensors.MustCopyFlatData[float64](outs[1])
			jac := tensors.MustCopyFlatData[float64](outs[2])
			moved := 0.0
			for i := range x {
				moved = math.Max(moved, math.Abs(x[i]-z[i]))
			}
			if moved < 1e-3 {
				t.Errorf("D=%d %s: layer is (nearly) the identity, the test would be trivial", d, c.name)
			}
			for b := 0; b < n; b++ {
				want := math.Log(math.Abs(det(jac[b*d*d:(b+1)*d*d], d)))
				if math.Abs(ld[b]-want) > 1e-8 {
					t.Errorf("D=%d %s row %d: forward logdet %.12g, log|det J| %.12g", d, c.name, b, ld[b], want)
				}
			}
			if !hasInverse {
				continue
			}
			zb := tensors.MustCopyFlatData[float64](outs[3])
			ild := tensors.MustCopyFlatData[float64](outs[4])
			ijac := tensors.MustCopyFlatData[float64](outs[5])
			for i := range z {
				if math.Abs(zb[i]-z[i]) > 1e-8 {
					t.Errorf("D=%d %s: inverse(forward(z))[%d] = %.12g, want %.12g", d, c.name, i, zb[i], z[i])
				}
			}
			for b := 0; b < n; b++ {
				want := math.Log(math.Abs(det(ijac[b*d*d:(b+1)*d*d], d)))
				if math.Abs(ild[b]-want) > 1e-8 || math.Abs(ild[b]+ld[b]) > 1e-8 {
					t.Errorf("D=%d %s row %d: inverse logdet %.12g, log|det J| %.12g, forward %.12g", d, c.name, b, ild[b], want, ld[b])
				}
			}
		}
	}
}

// The same round trip in float32 holds to 1e-4.
func TestLayersRoundTripFloat32(t *testing.T) {
	backend := testBackend(t)
	const n, d = 16, 3
	z64 := randRows(n, d, 77, 1.5)
	z := make([]float32, len(z64))
	for i := range z {
		z[i] = float32(z64[i])
	}
	for k, c := range layerCases() {
		inv, ok := c.layer.(Layer)
		if !ok {
			continue
		}
		out, err := model.ExecOnce(backend, seededStore(k), func(scope *model.Scope, z *Node) *Node {
			x, _ := c.layer.Forward(scope, z)
			zb, _ := inv.Inverse(scope, x)
			return zb
		}, tensors.FromFlatDataAndDimensions(z, n, d))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		zb := tensors.MustCopyFlatData[float32](out)
		for i := range z {
			if math.Abs(float64(zb[i]-z[i])) > 1e-4 {
				t.Errorf("%s: inverse(forward(z))[%d] = %g, want %g", c.name, i, zb[i], z[i])
			}
		}
	}
}

// MAF is autoregressive: in both directions ∂out_i/∂in_j = 0 for j > i.
func TestMAFJacobianIsTriangular(t *testing.T) {
	backend := testBackend(t)
	const n, d = 4, 4
	l := MAF{Hidden: []int{12, 12}, OutStd: 0.5}
	z := randRows(n, d, 5, 1)
	outs, err := model.ExecOnceN(backend, seededStore(3), func(scope *model.Scope, z *Node) []*Node {
		x, _ := l.Forward(scope, z)
		xi := Identity(x)
		zb, _ := l.Inverse(scope, xi)
		return []*Node{jacobian(x, z), jacobian(zb, xi)}
	}, tensors.FromFlatDataAndDimensions(z, n, d))
	if err != nil {
		t.Fatal(err)
	}
	for k, name := range []string{"forward", "inverse"} {
		jac := tensors.MustCopyFlatData[float64](outs[k])
		lower := 0.0
		for b := 0; b < n; b++ {
			for i := 0; i < d; i++ {
				for j := 0; j < d; j++ {
					v := jac[b*d*d+i*d+j]
					if j > i && v != 0 {
						t.Errorf("%s: ∂out_%d/∂in_%d = %g, want 0", name, i, j, v)
					}
					if j < i {
						lower = math.Max(lower, math.Abs(v))
					}
				}
			}
		}
		if lower < 1e-3 {
			t.Errorf("%s: strictly lower part is ~0 (%g): the test is trivial", name, lower)
		}
	}
}

// With û, 1 + ûᵀψ(z) > 0 even for w, u chosen so that the raw u would make
// the planar map non-invertible (wᵀu ≪ −1), at points where tanh' = 1.
func TestPlanarStaysInvertible(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(9, 9))
	const d, n = 3, 8
	rawNegative := 0
	for trial := 0; trial < 12; trial++ {
		w := make([]float64, d)
		for i := range w {
			w[i] = 3 * rng.NormFloat64()
		}
		ww := 0.0
		for _, v := range w {
			ww += v * v
		}
		// u = −c·w/‖w‖² + noise: wᵀu ≈ −c.
		c := 1 + 20*rng.Float64()
		u := make([]float64, d)
		wu := 0.0
		for i := range u {
			u[i] = -c*w[i]/ww + 0.1*rng.NormFloat64()
			wu += w[i] * u[i]
		}
		b := rng.NormFloat64()
		// z on the hyperplane wᵀz + b = 0 (tanh' = 1), plus random points.
		z := randRows(n, d, uint64(trial), 2)
		for r := 0; r < n/2; r++ {
			a := b
			for i := 0; i < d; i++ {
				a += w[i] * z[r*d+i]
			}
			for i := 0; i < d; i++ {
				z[r*d+i] -= a * w[i] / ww
			}
		}
		if 1+wu < 0 {
			rawNegative++
		}
		out, err := model.ExecOnce(backend, seededStore(trial), func(scope *model.Scope, z *Node) *Node {
			scope.VariableWithValue("w", w)
			scope.VariableWithValue("u", u)
			scope.VariableWithValue("b", b)
			return Planar{}.DetTerm(scope, z)
		}, tensors.FromFlatDataAndDimensions(z, n, d))
		if err != nil {
			t.Fatal(err)
		}
		for r, v := range tensors.MustCopyFlatData[float64](out) {
			if !(v > 0) {
				t.Errorf("trial %d row %d: 1+ûᵀψ = %g, want > 0 (wᵀu = %g)", trial, r, v, wu)
			}
		}
	}
	if rawNegative == 0 {
		t.Error("no trial was adversarial for the raw u")
	}
}

// gridMass is Σ exp(log p) over the cell centres of a side×side grid on
// [−r, r]², times the cell area, for a model with randomized weights.
func gridMass(t *testing.T, backend compute.Backend, m *Model, seed int, r float64, side int) (mass, maxDiff float64) {
	t.Helper()
	h := 2 * r / float64(side)
	xs := make([]float64, 0, 2*side*side)
	for i := 0; i < side; i++ {
		for j := 0; j < side; j++ {
			xs = append(xs, -r+(float64(i)+0.5)*h, -r+(float64(j)+0.5)*h)
		}
	}
	n := side * side
	outs, err := model.ExecOnceN(backend, seededStore(seed), func(scope *model.Scope, x *Node) []*Node {
		// Create the variables in the sampling direction first: ActNorms then
		// start at the identity instead of standardizing the grid.
		_ = m.DecodeGraph(scope, x)
		return []*Node{m.LogProbGraph(scope, x), StdNormalLogProb(x)}
	}, tensors.FromFlatDataAndDimensions(xs, n, 2))
	if err != nil {
		t.Fatal(err)
	}
	lp := tensors.MustCopyFlatData[float64](outs[0])
	base := tensors.MustCopyFlatData[float64](outs[1])
	for i, v := range lp {
		if p := math.Exp(base[i]); p > 1e-3 {
			maxDiff = math.Max(maxDiff, math.Abs(v-base[i]))
		}
		mass += math.Exp(v) * h * h
	}
	return mass, maxDiff
}

// exp(log p) of each registered flow, with random (non-identity) weights,
// integrates to 1 on a 200×200 grid over [−8, 8]².
func TestDensityIntegratesToOne(t *testing.T) {
	backend := testBackend(t)
	info := models.DataInfo{Shape: []int{2}}
	// Larger weights move mass outside the grid (or make p too sharp for it).
	outStds := map[string]float64{"nice": 0.1, "realnvp": 0.03, "maf": 0.02, "glow": 0.03}
	for k, kind := range []string{"nice", "realnvp", "maf", "glow", "planar", "radial"} {
		outStd := outStds[kind]
		m, err := NewConfig(Config{Kind: kind, Hidden: []int{16, 16}, Layers: 4, OutStd: outStd}, Options{}, info)
		if err != nil {
			t.Fatal(err)
		}
		mass, diff := gridMass(t, backend, m, 20+k, 8, 200)
		t.Logf("%s (out std %g): mass %.5f, max |log p − log N| %.3f", kind, outStd, mass, diff)
		if math.Abs(mass-1) > 0.01 {
			t.Errorf("%s: ∫p = %.5f, want 1 ± 0.01", kind, mass)
		}
		if diff < 0.1 {
			t.Errorf("%s: log p is within %.3g of the base density: the test is trivial", kind, diff)
		}
	}
}

func TestRegisteredAndRejectsLabels(t *testing.T) {
	info := models.DataInfo{Shape: []int{2}}
	for _, name := range []string{"nice", "realnvp", "maf", "glow", "planar", "radial"} {
		e, err := models.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Family != family {
			t.Errorf("%s: family %q", name, e.Family)
		}
		m, err := e.New(Options{}, info)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(models.LogProber); !ok {
			t.Errorf("%s: not a LogProber", name)
		}
		if _, ok := m.(models.Codec); !ok {
			t.Errorf("%s: not a Codec", name)
		}
		s := m.(models.Sampler)
		if _, err := s.Sample(&models.Runtime{}, models.SampleRequest{N: 2, Labels: []int32{0, 1}}); err == nil {
			t.Errorf("%s: Sample accepted labels", name)
		}
		if _, err := models.SampleOptions(name, map[string]any{"cfg": 1.0}); err == nil {
			t.Errorf("%s: Sample accepted guidance", name)
		}
	}
	for _, name := range []string{"planar", "radial", "maf"} {
		if _, err := models.New(name, Options{}, models.DataInfo{Shape: []int{8, 8, 1}}); err == nil {
			t.Errorf("%s accepted image data", name)
		}
	}
	for _, name := range []string{"realnvp", "glow", "nice"} {
		if _, err := models.New(name, Options{}, models.DataInfo{Shape: []int{1}}); err == nil {
			t.Errorf("%s accepted D = 1", name)
		}
		if _, err := models.New(name, Options{}, models.DataInfo{Shape: []int{8, 8, 1}}); err != nil {
			t.Errorf("%s on 8x8x1 images: %v", name, err)
		}
	}
}

// Sample and LogProb through a Runtime agree with each other: the same seed
// gives the same samples, and LogProb of the sample f(z) equals
// log N(z) − Σ forward logdets recomputed from the seeded noise z (this
// exercises MAF's sequential sampling against its one-pass density).
func TestRuntimeSampleAndLogProb(t *testing.T) {
	for k, c := range []Config{
		{Kind: "maf", Hidden: []int{8}, Layers: 2, OutStd: 0.3},
		{Kind: "glow", Hidden: []int{8}, Layers: 2, OutStd: 0.3},
		{Kind: "planar", Layers: 4},
		{Kind: "radial", Layers: 4},
	} {
		t.Run(c.Kind, func(t *testing.T) { checkSampleAndLogProb(t, c, k) })
	}
}

func checkSampleAndLogProb(t *testing.T, c Config, k int) {
	backend := testBackend(t)
	m, err := NewConfig(c, Options{}, models.DataInfo{Shape: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	store := seededStore(4 + k)
	rt := &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
	// Create the variables in float32 (as training would) with one Loss.
	x0 := tensors.FromFlatDataAndDimensions([]float32{0, 1, 2, -1, 0.5, 0}, 2, 3)
	if _, err := model.ExecOnce(backend, store, func(scope *model.Scope, x *Node) *Node {
		return m.Loss(scope, x, nil)
	}, x0); err != nil {
		t.Fatal(err)
	}
	a, err := m.Sample(rt, models.SampleRequest{N: 7, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Sample(rt, models.SampleRequest{N: 7, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	z := models.Noise(7, 3, 3)
	moved := false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different samples at %d", i)
		}
		moved = moved || math.Abs(float64(a[i]-z[i])) > 1e-3
	}
	if !moved {
		t.Error("samples equal the base noise")
	}
	lp, err := m.LogProb(rt, a, 7)
	if err != nil {
		t.Fatal(err)
	}
	// log p(x) = log N(z) + log|det ∂z/∂x| for x = f(z); recompute it from z.
	out, err := model.ExecOnceN(backend, store, func(scope *model.Scope, z *Node) []*Node {
		fl := m.Flow()
		s := scope.At("flow")
		ld := ZerosLike(StdNormalLogProb(z))
		x := z
		for i, l := range fl.Layers {
			var d *Node
			x, d = l.Forward(s.At("layer_%d", i), x)
			ld = Add(ld, d)
		}
		return []*Node{Sub(StdNormalLogProb(z), ld)}
	}, tensors.FromFlatDataAndDimensions(z, 7, 3))
	if err != nil {
		t.Fatal(err)
	}
	want := tensors.MustCopyFlatData[float32](out[0])
	for i := range lp {
		if math.Abs(lp[i]-float64(want[i])) > 1e-3 {
			t.Errorf("row %d: LogProb %g, want log N(z) − forward logdet %g", i, lp[i], want[i])
		}
	}
	// Encode inverts the sampler: Encode(Sample(seed)) = Noise(seed).
	zb, err := m.Encode(rt, a, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range zb {
		if math.Abs(float64(zb[i]-z[i])) > 1e-4 {
			t.Errorf("Encode(Sample)[%d] = %g, want the noise %g", i, zb[i], z[i])
		}
	}
}

// The planar and radial inverses hold where they are hardest: wᵀû close to
// −1 (the planar map nearly flat along w) and β close to −α (the radial map
// nearly collapsing onto z₀); round trips in float32 to 1e-4.
func TestPlanarRadialInverseHardCases(t *testing.T) {
	backend := testBackend(t)
	const n, d = 64, 3
	z := randRows(n, d, 31, 2)
	z32 := make([]float32, len(z))
	for i := range z {
		z32[i] = float32(z[i])
	}
	cases := []struct {
		name   string
		layer  Layer
		preset func(scope *model.Scope)
	}{
		{"planar/flat", Planar{}, func(s *model.Scope) {
			// u = −c·w/‖w‖²: wᵀu = −c ≪ −1, so wᵀû = softplus(−c + 0.54) − 1 ≈ −1.
			s.VariableWithValue("w", []float32{2, -1, 0.5})
			// c = 5: the slope along w is down to softplus(−4.46) ≈ 0.011 (float32
			// resolves the log-det to ~1e-3 there; it gets worse as c grows).
			s.VariableWithValue("u", []float32{-5 * 2 / 5.25, 5 * 1 / 5.25, -5 * 0.5 / 5.25})
			s.VariableWithValue("b", float32(0.3))
		}},
		{"planar/steep", Planar{}, func(s *model.Scope) {
			s.VariableWithValue("w", []float32{3, 1, -2})
			s.VariableWithValue("u", []float32{2, 1, -1})
			s.VariableWithValue("b", float32(-0.5))
		}},
		{"radial/collapsing", Radial{}, func(s *model.Scope) {
			s.VariableWithValue("z0", []float32{0.5, -0.5, 1})
			s.VariableWithValue("alpha", float32(0.2))
			s.VariableWithValue("beta", float32(-6)) // β = −α + softplus(−6) ≈ −α + 0.0025
		}},
		{"radial/expanding", Radial{}, func(s *model.Scope) {
			s.VariableWithValue("z0", []float32{0.5, -0.5, 1})
			s.VariableWithValue("alpha", float32(-1))
			s.VariableWithValue("beta", float32(4))
		}},
	}
	for k, c := range cases {
		outs, err := model.ExecOnceN(backend, seededStore(k), func(scope *model.Scope, z *Node) []*Node {
			c.preset(scope)
			x, ld := c.layer.Forward(scope, z)
			zb, ild := c.layer.Inverse(scope, x)
			return []*Node{x, zb, Add(ld, ild)}
		}, tensors.FromFlatDataAndDimensions(z32, n, d))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		zb := tensors.MustCopyFlatData[float32](outs[1])
		sum := tensors.MustCopyFlatData[float32](outs[2])
		worst := 0.0
		for i := range z32 {
			worst = math.Max(worst, math.Abs(float64(zb[i]-z32[i])))
		}
		if worst > 1e-4 {
			t.Errorf("%s: max |inverse(forward(z)) − z| = %g", c.name, worst)
		}
		for r, v := range sum {
			if math.Abs(float64(v)) > 2e-3 {
				t.Errorf("%s row %d: forward + inverse log-det = %g, want 0", c.name, r, v)
				break
			}
		}
	}
}

// Trained end to end through the real loop (≤ 300 steps, tiny nets) on
// N(μ, diag(s²)), realnvp samples that Gaussian's mean and spread.
func TestRealNVPFitsAGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	mu, s := []float64{2, -1}, []float64{0.5, 1.5}
	const n = 2000
	xs, file := modeltest.GaussianNPY(t, dir, mu, s, n, 11)
	cfg := runs.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "realnvp", "npy:"+file, filepath.Join(dir, "run")
	cfg.Steps, cfg.Batch, cfg.LR, cfg.LogEvery = 300, 128, 5e-3, 0
	cfg.Set("hidden", []int{16, 16})
	cfg.Warmup = 20
	if _, err := train.Train(context.Background(), cfg, train.Options{Log: discard{}}); err != nil {
		t.Fatal(err)
	}
	sess, err := runs.Open(cfg.Out, "")
	if err != nil {
		t.Fatal(err)
	}
	// The exact log-likelihood of the data is close to the Gaussian's
	// entropy Σ_d ½·log(2πe·s_d²) ≈ 2.55 nats.
	lp, err := sess.Model.(models.LogProber).LogProb(sess.Runtime(false), xs, n)
	if err != nil {
		t.Fatal(err)
	}
	var nll, entropy float64
	for _, v := range lp {
		nll -= v / n
	}
	for _, sd := range s {
		entropy += 0.5 * math.Log(2*math.Pi*math.E*sd*sd)
	}
	t.Logf("NLL %.4f nats, entropy %.4f", nll, entropy)
	if math.Abs(nll-entropy) > 0.1 {
		t.Errorf("NLL of the data %.4f, want ≈ entropy %.4f", nll, entropy)
	}
	sm, err := sess.Sample(runs.SampleOptions{N: 4000, Class: -1, Seed: 2, NoEMA: true})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.CheckMoments(t, sm.X, sm.N, mu, s, 0.1, 0.05, 0.2)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// m(0) = 0: when wᵀu = 0, û = u and the Jacobian determinant is exactly 1
// (f is a shear along u ⟂ w); and a stack of 32 freshly initialized planar
// layers is close to the identity, its mean |Σ log det| under 1 nat on
// standard normal points (Rezende & Mohamed's unshifted m gave about 12).
func TestPlanarFreshIsNearIdentity(t *testing.T) {
	backend := testBackend(t)
	const n, d = 64, 2
	z := randRows(n, d, 4, 1)
	for _, tc := range []struct{ w, u []float64 }{
		{[]float64{1, 2}, []float64{2, -1}},
		{[]float64{0.1, 0}, []float64{0, 3}},
		{[]float64{-3, 1}, []float64{0.5, 1.5}},
	} {
		out, err := model.ExecOnce(backend, seededStore(1), func(scope *model.Scope, z *Node) *Node {
			scope.VariableWithValue("w", tc.w)
			scope.VariableWithValue("u", tc.u)
			scope.VariableWithValue("b", 0.3)
			return Planar{}.DetTerm(scope, z)
		}, tensors.FromFlatDataAndDimensions(z, n, d))
		if err != nil {
			t.Fatal(err)
		}
		for r, v := range tensors.MustCopyFlatData[float64](out) {
			if math.Abs(v-1) > 1e-12 {
				t.Fatalf("w %v u %v (wᵀu = 0) row %d: det %g, want 1", tc.w, tc.u, r, v)
			}
		}
	}
	layers := make([]Layer, 32)
	for i := range layers {
		layers[i] = Inverted{Planar{}}
	}
	out, err := model.ExecOnce(backend, seededStore(2), func(scope *model.Scope, x *Node) *Node {
		_, ld := Flow{Layers: layers}.encode(scope, x, pass{})
		return ld
	}, tensors.FromFlatDataAndDimensions(z, n, d))
	if err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for _, v := range tensors.MustCopyFlatData[float64](out) {
		mean += math.Abs(v) / n
	}
	t.Logf("32 fresh planar layers: mean |Σ log det| = %.3f nats", mean)
	if mean > 1 {
		t.Errorf("32 fresh planar layers: mean |Σ log det| = %.3f nats, want < 1 (near the identity)", mean)
	}
}
