package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/eval"
	"genmod/models"
)

// logAbsDet is log|det A| of a row-major d×d matrix, by LU with partial
// pivoting (the Laplace det above is exponential in d).
func logAbsDet(a []float64, d int) float64 {
	m := append([]float64(nil), a...)
	s := 0.0
	for k := 0; k < d; k++ {
		p := k
		for i := k + 1; i < d; i++ {
			if math.Abs(m[i*d+k]) > math.Abs(m[p*d+k]) {
				p = i
			}
		}
		if m[p*d+k] == 0 {
			return math.Inf(-1)
		}
		if p != k {
			for j := 0; j < d; j++ {
				m[k*d+j], m[p*d+j] = m[p*d+j], m[k*d+j]
			}
		}
		s += math.Log(math.Abs(m[k*d+k]))
		for i := k + 1; i < d; i++ {
			f := m[i*d+k] / m[k*d+k]
			for j := k; j < d; j++ {
				m[i*d+j] -= f * m[k*d+j]
			}
		}
	}
	return s
}

// imageLayerCases are the image layers on [B,4,4,2] (float64), with
// variables preset where the default would be the identity.
func imageLayerCases() []layerCase {
	return []layerCase{
		{name: "squeeze", layer: Squeeze2x2{}},
		{name: "actnorm", layer: ActNorm{}, preset: presetActNorm},
		{name: "invconv1x1", layer: InvConv1x1{Seed: 3}, preset: presetLU},
		{name: "coupling/channel/0", layer: ConvCoupling{Mask: MaskChannel, Parity: 0, Hidden: 8, InitStd: 0.3}},
		{name: "coupling/channel/1", layer: ConvCoupling{Mask: MaskChannel, Parity: 1, Hidden: 8, InitStd: 0.3}},
		{name: "coupling/checkerboard/0", layer: ConvCoupling{Mask: MaskCheckerboard, Parity: 0, Hidden: 8, InitStd: 0.3}},
		{name: "coupling/checkerboard/1", layer: ConvCoupling{Mask: MaskCheckerboard, Parity: 1, Hidden: 8, InitStd: 0.3}},
	}
}

func presetActNorm(scope *model.Scope, c int) {
	b, l := make([]float64, c), make([]float64, c)
	for i := range b {
		b[i], l[i] = 0.5-0.3*float64(i), 0.4-0.5*float64(i)
	}
	scope.VariableWithValue("bias", b)
	scope.VariableWithValue("logs", l)
}

// presetLU moves the LU variables away from their (orthogonal) start, so
// that the log-det is not 0.
func presetLU(scope *model.Scope, c int) {
	_, lower, upper, s := luInit(c, 3)
	rng := rand.New(rand.NewPCG(4, 4))
	ls := make([]float64, c)
	for i := range lower {
		lower[i] += 0.3 * rng.NormFloat64()
		upper[i] += 0.3 * rng.NormFloat64()
	}
	for i := range ls {
		ls[i] = math.Log(math.Abs(s[i])) + 0.4*rng.NormFloat64()
	}
	scope.VariableWithValue("lower", reshape2(lower, c))
	scope.VariableWithValue("upper", reshape2(upper, c))
	scope.VariableWithValue("log_s", ls)
}

func reshape2(v []float64, c int) [][]float64 {
	out := make([][]float64, c)
	for i := range out {
		out[i] = v[i*c : (i+1)*c]
	}
	return out
}

// checkFlatLayer runs f (flat rows [n,d] -> flat rows, log-det) forward and
// backward in float64 and compares the log-dets with log|det J| of the
// autodiff Jacobians, and inverse(forward(z)) with z.
func checkFlatLayer(t *testing.T, name string, k int, z []float64, n, d int, preset func(*model.Scope),
	fwd, inv func(scope *model.Scope, z *Node) (*Node, *Node)) {
	t.Helper()
	outs, err := model.ExecOnceN(testBackend(t), seededStore(k), func(scope *model.Scope, z *Node) []*Node {
		if preset != nil {
			preset(scope)
		}
		x, ld := fwd(scope, z)
		xi := Identity(x)
		zb, ild := inv(scope, xi)
		return []*Node{x, ld, jacobian(x, z), zb, ild, jacobian(zb, xi)}
	}, tensors.FromFlatDataAndDimensions(z, n, d))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	x := tensors.MustCopyFlatData[float64](outs[0])
	moved := 0.0
	for i := range x {
		moved = math.Max(moved, math.Abs(x[i]-z[i]))
	}
	if moved < 1e-3 {
		t.Errorf("%s: layer is (nearly) the identity, the test would be trivial", name)
	}
	for dir, o := range []int{1, 4} {
		ld := tensors.MustCopyFlatData[float64](outs[o])
		jac := tensors.MustCopyFlatData[float64](outs[o+1])
		for b := 0; b < n; b++ {
			want := logAbsDet(jac[b*d*d:(b+1)*d*d], d)
			if math.Abs(ld[b]-want) > 1e-7*math.Max(1, math.Abs(want)) {
				t.Errorf("%s %s row %d: logdet %.12g, log|det J| %.12g", name, []string{"forward", "inverse"}[dir], b, ld[b], want)
			}
		}
	}
	zb := tensors.MustCopyFlatData[float64](outs[3])
	for i := range z {
		if math.Abs(zb[i]-z[i]) > 1e-8 {
			t.Errorf("%s: inverse(forward(z))[%d] = %.12g, want %.12g", name, i, zb[i], z[i])
			break
		}
	}
}

// Every image layer on 4x4x2 images, flattened to 32-vectors, in float64:
// the log-dets equal log|det J| of the autodiff Jacobians in both
// directions, and inverse(forward(z)) = z.
func TestImageLayersInverseAndLogDet(t *testing.T) {
	const n, h, w, c = 3, 4, 4, 2
	d := h * w * c
	for k, tc := range imageLayerCases() {
		z := randRows(n, d, uint64(40+k), 1.1)
		var preset func(*model.Scope)
		if tc.preset != nil {
			preset = func(s *model.Scope) { tc.preset(s, c) }
		}
		l := tc.layer.(Layer)
		// Forward takes the noise side, Inverse the data side; they differ
		// for Squeeze2x2 only (2x2x8 vs 4x4x2).
		noise, data := []int{n, h, w, c}, []int{n, h, w, c}
		if tc.name == "squeeze" {
			noise = []int{n, h / 2, w / 2, 4 * c}
		}
		fwd := func(scope *model.Scope, z *Node) (*Node, *Node) {
			out, ld := l.Forward(scope, Reshape(z, noise...))
			return Reshape(out, n, d), ld
		}
		inv := func(scope *model.Scope, x *Node) (*Node, *Node) {
			out, ld := l.Inverse(scope, Reshape(x, data...))
			return Reshape(out, n, d), ld
		}
		checkFlatLayer(t, tc.name, k, z, n, d, preset, fwd, inv)
	}
}

// Squeeze2x2's Inverse is SpaceToDepth: pixel (2i+p, 2j+q, c) goes to
// (i, j, (2p+q)·C + c).
func TestSqueezeLayout(t *testing.T) {
	const h, w, c = 4, 6, 2
	x := make([]float64, h*w*c)
	for i := range x {
		x[i] = float64(i)
	}
	out, err := model.ExecOnce(testBackend(t), seededStore(0), func(scope *model.Scope, x *Node) *Node {
		z, _ := Squeeze2x2{}.Inverse(scope, x)
		return z
	}, tensors.FromFlatDataAndDimensions(x, 1, h, w, c))
	if err != nil {
		t.Fatal(err)
	}
	z := tensors.MustCopyFlatData[float64](out)
	for i := 0; i < h/2; i++ {
		for j := 0; j < w/2; j++ {
			for p := 0; p < 2; p++ {
				for q := 0; q < 2; q++ {
					for k := 0; k < c; k++ {
						got := z[(i*(w/2)+j)*4*c+(2*p+q)*c+k]
						want := x[((2*i+p)*w+2*j+q)*c+k]
						if got != want {
							t.Fatalf("squeezed (%d,%d,%d) = %g, want pixel (%d,%d,%d) = %g", i, j, (2*p+q)*c+k, got, 2*i+p, 2*j+q, k, want)
						}
					}
				}
			}
		}
	}
}

// The LU 1x1 conv's log-det on a [B,H,W,C] image is H·W·log|det W| with W
// assembled densely, W·W⁻¹ = I, and P·L·U reproduces the random rotation it
// starts from.
func TestInvConv1x1LogDetIsDense(t *testing.T) {
	const c, h, w = 5, 3, 2
	l := InvConv1x1{Seed: 3}
	x := randRows(2, h*w*c, 8, 1)
	outs, err := model.ExecOnceN(testBackend(t), seededStore(1), func(scope *model.Scope, x *Node) []*Node {
		fresh := l.Matrix(scope.At("fresh"), Reshape(x, 2, h, w, c)) // the initial W, before presetLU
		s := scope.At("moved")
		presetLU(s, c)
		xi := Reshape(x, 2, h, w, c)
		_, ld := l.Inverse(s, xi)
		p := l.parts(s, xi)
		return []*Node{fresh, p.matrix(), MatMul(p.matrix(), p.inverse()), ld}
	}, tensors.FromFlatDataAndDimensions(x, 2, h*w*c))
	if err != nil {
		t.Fatal(err)
	}
	fresh := tensors.MustCopyFlatData[float64](outs[0])
	q := randomRotation(c, 3)
	for i := range q {
		if math.Abs(fresh[i]-q[i]) > 1e-12 {
			t.Fatalf("initial W = P·L·U differs from the rotation at %d: %g vs %g", i, fresh[i], q[i])
		}
	}
	wm := tensors.MustCopyFlatData[float64](outs[1])
	eye := tensors.MustCopyFlatData[float64](outs[2])
	ld := tensors.MustCopyFlatData[float64](outs[3])
	want := float64(h*w) * logAbsDet(wm, c)
	if math.Abs(want) < 0.1 {
		t.Fatalf("log|det W| = %g: the preset did not move W away from a rotation", want/float64(h*w))
	}
	for b, v := range ld {
		if math.Abs(v-want) > 1e-9 {
			t.Errorf("row %d: log-det %.12g, H·W·log|det W| %.12g", b, v, want)
		}
	}
	for i := 0; i < c; i++ {
		for j := 0; j < c; j++ {
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(eye[i*c+j]-want) > 1e-9 {
				t.Errorf("(W·W⁻¹)[%d][%d] = %g", i, j, eye[i*c+j])
			}
		}
	}
}

// After its data-dependent initialization, ActNorm's output on the init
// batch has zero mean and unit variance per channel, and the values persist:
// a second graph on the same store gives the same output.
func TestActNormDataInit(t *testing.T) {
	const n, h, w, c = 8, 4, 4, 3
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*h*w*c)
	for i := range x {
		ch := i % c
		x[i] = float32(3*float64(ch) - 2 + (0.2+float64(ch))*rng.NormFloat64())
	}
	store := seededStore(2)
	backend := testBackend(t)
	run := func() []float32 {
		out, err := model.ExecOnce(backend, store, func(scope *model.Scope, x *Node) *Node {
			z, _ := ActNorm{}.Inverse(scope.At("an"), x)
			return z
		}, tensors.FromFlatDataAndDimensions(x, n, h, w, c))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	z := run()
	for ch := 0; ch < c; ch++ {
		var s, s2 float64
		for i := ch; i < len(z); i += c {
			s += float64(z[i])
			s2 += float64(z[i]) * float64(z[i])
		}
		m := s / float64(len(z)/c)
		v := s2/float64(len(z)/c) - m*m
		if math.Abs(m) > 1e-4 || math.Abs(v-1) > 1e-3 {
			t.Errorf("channel %d after init: mean %g, variance %g, want 0 and 1", ch, m, v)
		}
	}
	again := run()
	for i := range z {
		if again[i] != z[i] {
			t.Fatalf("second run differs at %d (%g vs %g): the init was not stored", i, again[i], z[i])
		}
	}
	// Built in the noise→data direction first, it starts at the identity.
	out, err := model.ExecOnce(backend, seededStore(3), func(scope *model.Scope, x *Node) *Node {
		y, _ := ActNorm{}.Forward(scope, x)
		return y
	}, tensors.FromFlatDataAndDimensions(x, n, h, w, c))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range tensors.MustCopyFlatData[float32](out) {
		if v != x[i] {
			t.Fatalf("ActNorm created by Forward is not the identity at %d", i)
		}
	}
}

func imageModel(t *testing.T, kind string, shape []int, widths []int, initStd float64) *Model {
	t.Helper()
	m, err := NewConfig(Config{Kind: kind, Layers: 2, Widths: widths, InitStd: initStd}, Options{}, models.DataInfo{Shape: shape})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Whole image models (random, non-identity couplings): in float64 on 4x4x2
// images, the encoder's total log-det equals log|det J| of its 32x32
// autodiff Jacobian and decode(encode(x)) = x.
func TestImageModelsLogDet(t *testing.T) {
	const n = 2
	shape := []int{4, 4, 2}
	for k, kind := range []string{"realnvp", "glow"} {
		m := imageModel(t, kind, shape, []int{6}, 0.2)
		d := m.info.Dim()
		x := randRows(n, d, uint64(60+k), 0.8)
		checkFlatLayer(t, kind, 30+k, x, n, d, nil,
			func(scope *model.Scope, x *Node) (*Node, *Node) { return m.EncodeGraph(scope, x) },
			func(scope *model.Scope, z *Node) (*Node, *Node) {
				x := m.DecodeGraph(scope, z)
				// The decoder's log-det is minus the encoder's at x.
				_, ld := m.EncodeGraph(scope, StopGradient(x))
				return Reshape(x, n, d), Neg(ld)
			})
	}
}

// Runtime Encode/Decode of image models round-trip to 1e-4 in float32, and
// Encode of samples drawn at temperature T is T times the seeded noise.
func TestImageCodecRoundTrip(t *testing.T) {
	backend := testBackend(t)
	shape := []int{8, 8, 1}
	for k, kind := range []string{"realnvp", "glow"} {
		m := imageModel(t, kind, shape, []int{8}, 0.03)
		store := seededStore(50 + k)
		rt := &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
		const n = 5
		d := m.info.Dim()
		x := make([]float32, n*d)
		rng := rand.New(rand.NewPCG(uint64(k), 1))
		for i := range x {
			x[i] = 2*rng.Float32() - 1
		}
		z, err := m.Encode(rt, x, n) // also data-initializes glow's ActNorms
		if err != nil {
			t.Fatal(err)
		}
		xb, err := m.Decode(rt, z, n)
		if err != nil {
			t.Fatal(err)
		}
		worst, moved := 0.0, 0.0
		for i := range x {
			worst = math.Max(worst, math.Abs(float64(xb[i]-x[i])))
			moved = math.Max(moved, math.Abs(float64(z[i]-x[i])))
		}
		t.Logf("%s: max |decode(encode(x)) − x| = %.3g, max |z − x| = %.3g", kind, worst, moved)
		if worst > 1e-4 || moved < 0.1 {
			t.Errorf("%s: max |decode(encode(x)) − x| = %g (want <= 1e-4), max |z − x| = %g", kind, worst, moved)
		}
		for _, temp := range []float64{0.5, 1} {
			s, err := m.Sample(rt, models.SampleRequest{N: n, Seed: 9, Options: models.TemperatureOptions{Temperature: temp}})
			if err != nil {
				t.Fatal(err)
			}
			zs, err := m.Encode(rt, s, n)
			if err != nil {
				t.Fatal(err)
			}
			noise := models.Noise(n, d, 9)
			for i := range zs {
				if want := float32(temp) * noise[i]; math.Abs(float64(zs[i]-want)) > 1e-3 {
					t.Errorf("%s T=%g: encode(sample)[%d] = %g, want T·noise = %g", kind, temp, i, zs[i], want)
					break
				}
			}
		}
		if _, err := m.Sample(rt, models.SampleRequest{N: 2, Options: models.TemperatureOptions{Temperature: -1}}); err == nil {
			t.Errorf("%s: negative temperature accepted", kind)
		}
	}
}

// An untrained image flow is the identity (realnvp: zero-initialized
// couplings) or an orthogonal, volume-preserving map (glow created by
// sampling, so its ActNorms start at the identity rather than from data):
// then log p(x) = log N(x; 0, I), and bits/dim on dequantized 8-bit images
// in [-1,1] has the closed form (Σ_i x_i²/2 + D·log(2π)/2)/(D·ln 2) + 7.
func TestUntrainedImageFlowBitsPerDim(t *testing.T) {
	backend := testBackend(t)
	shape := []int{8, 8, 1}
	const n = 6
	for k, kind := range []string{"realnvp", "glow"} {
		m, err := New(kind, Options{Channels: []int{8}}, models.DataInfo{Shape: shape})
		if err != nil {
			t.Fatal(err)
		}
		store := seededStore(70 + k)
		rt := &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
		if _, err := m.Sample(rt, models.SampleRequest{N: 1}); err != nil {
			t.Fatal(err)
		}
		d := m.info.Dim()
		rng := rand.New(rand.NewPCG(uint64(k), 7))
		x := make([]float32, n*d)
		for i := range x {
			pix := rng.IntN(256)
			x[i] = 2*(float32(pix)+rng.Float32())/256 - 1 // dequantized, symmetric
		}
		lp, err := m.LogProb(rt, x, n)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < n; r++ {
			var ss float64
			for _, v := range x[r*d : (r+1)*d] {
				ss += float64(v) * float64(v)
			}
			want := (ss/2+float64(d)*math.Log(2*math.Pi)/2)/(float64(d)*math.Ln2) + 7
			got := eval.BitsPerDim(lp[r], d)
			if math.Abs(got-want) > 1e-5 {
				t.Errorf("%s row %d: bits/dim %.7f, closed form %.7f", kind, r, got, want)
			}
		}
	}
}

// A non-finite value is reported with the name of the layer that made it.
func TestNonFiniteNamesTheLayer(t *testing.T) {
	backend := testBackend(t)
	m, err := NewConfig(Config{Kind: "realnvp", Hidden: []int{8}, Layers: 2, OutStd: 0.3}, Options{}, models.DataInfo{Shape: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	store := seededStore(9)
	rt := &models.Runtime{Backend: backend, Store: store, Scope: store.RootScope}
	_, err = m.Decode(rt, []float32{0.1, 0.2, 3e38, -3e38}, 2)
	if err == nil {
		t.Fatal("decoding ±3e38 gave finite values?")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "layer_0 (flow.AffineCoupling)") {
		t.Errorf("error does not name row 2 and layer_0 (flow.AffineCoupling): %v", err)
	}
	if _, err := m.Encode(rt, []float32{float32(math.NaN()), 0}, 1); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Errorf("NaN input: %v", err)
	}
}

// Image flows are built with the expected latent layout and reject what
// they cannot do.
func TestImageModelShapes(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		shape     []int
		levels    int
		lastShape []int
	}{
		{"glow", []int{28, 28, 1}, 2, []int{7, 7, 8}},
		{"realnvp", []int{28, 28, 1}, 2, []int{14, 14, 2}},
		{"glow", []int{6, 6, 3}, 1, []int{3, 3, 12}},
		{"realnvp", []int{5, 7, 1}, 1, []int{5, 7, 1}},
	} {
		m, err := New(tc.kind, Options{}, models.DataInfo{Shape: tc.shape})
		if err != nil {
			t.Errorf("%s %v: %v", tc.kind, tc.shape, err)
			continue
		}
		ms := m.MultiScale()
		outs, err := ms.outShapes()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms.Levels) != tc.levels || fmt.Sprint(outs[len(outs)-1]) != fmt.Sprint(tc.lastShape) {
			t.Errorf("%s %v: %d levels ending at %v, want %d levels ending at %v", tc.kind, tc.shape, len(ms.Levels), outs[len(outs)-1], tc.levels, tc.lastShape)
		}
	}
	bad := []struct {
		kind  string
		shape []int
		c     Config
	}{
		{"glow", []int{5, 5, 1}, Config{}},                    // cannot squeeze
		{"glow", []int{28, 28, 1}, Config{Levels: 3}},         // 7x7 cannot be squeezed
		{"maf", []int{8, 8, 1}, Config{}},                     // vectors only
		{"nice", []int{5, 5, 1}, Config{}},                    // odd number of pixels
		{"nice", []int{8, 8, 1}, Config{Widths: []int{8}}},    // channels are for conv flows
		{"realnvp", []int{8, 8, 1}, Config{Hidden: []int{8}}}, // hidden is for vectors
	}
	for _, b := range bad {
		b.c.Kind = b.kind
		if _, err := NewConfig(b.c, Options{}, models.DataInfo{Shape: b.shape}); err == nil {
			t.Errorf("%s %v %+v: accepted", b.kind, b.shape, b.c)
		}
	}
}

// Interleave moves the even coordinates to the first half and the odd ones
// to the second (data→noise), and Forward undoes it.
func TestInterleave(t *testing.T) {
	x := []float32{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}
	outs, err := model.ExecOnceN(testBackend(t), seededStore(1), func(scope *model.Scope, x *Node) []*Node {
		z, ld := Interleave{}.Inverse(scope, x)
		back, ld2 := Interleave{}.Forward(scope, z)
		return []*Node{z, back, ld, ld2}
	}, tensors.FromFlatDataAndDimensions(x, 2, 6))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 2, 4, 1, 3, 5, 10, 12, 14, 11, 13, 15}
	if got := tensors.MustCopyFlatData[float32](outs[0]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Inverse = %v, want %v", got, want)
	}
	if got := tensors.MustCopyFlatData[float32](outs[1]); fmt.Sprint(got) != fmt.Sprint(x) {
		t.Errorf("Forward(Inverse(x)) = %v, want %v", got, x)
	}
	for _, o := range outs[2:] {
		if got := tensors.MustCopyFlatData[float32](o); fmt.Sprint(got) != "[0 0]" {
			t.Errorf("log-det = %v, want 0", got)
		}
	}
}

// NICE on images (flattened, even/odd halves): with non-zero couplings and
// scaling on 4x4x1 images in float64, the encoder's log-det equals log|det J|
// of the 16x16 autodiff Jacobian (= Σ s of the scaling layer, the couplings
// being volume preserving) and decode(encode(x)) = x.
func TestNICEImageLogDet(t *testing.T) {
	const n = 2
	m, err := NewConfig(Config{Kind: "nice", Hidden: []int{6}, Layers: 3, OutStd: 0.3}, Options{}, models.DataInfo{Shape: []int{4, 4, 1}})
	if err != nil {
		t.Fatal(err)
	}
	d := m.info.Dim()
	preset := func(scope *model.Scope) {
		s := make([]float64, d)
		for i := range s {
			s[i] = 0.05 * float64(i%5-2)
		}
		scope.At("flow").At("layer_3").VariableWithValue("s", s)
	}
	checkFlatLayer(t, "nice-image", 40, randRows(n, d, 70, 0.8), n, d, preset,
		func(scope *model.Scope, x *Node) (*Node, *Node) { return m.EncodeGraph(scope, x) },
		func(scope *model.Scope, z *Node) (*Node, *Node) {
			x := m.DecodeGraph(scope, z)
			_, ld := m.EncodeGraph(scope, StopGradient(x))
			return Reshape(x, n, d), Neg(ld)
		})
}
