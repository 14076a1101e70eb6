package gan

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn/nntest"
)

// randImages returns b float64 images [b, h, w, c] of N(0, s²) values.
func randImages(seed uint64, s float64, b, h, w, c int) ([]float64, *tensors.Tensor) {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, b*h*w*c)
	for i := range x {
		x[i] = s * r.NormFloat64()
	}
	return x, tensors.FromFlatDataAndDimensions(x, b, h, w, c)
}

// The gradient penalty equals its definition, E_b[(‖∇_x̂ f(x̂_b)‖₂ − 1)²]
// with x̂_b = ε_b·x_b + (1 − ε_b)·fake_b, on critics whose gradient is known:
//   - linear f(x) = Σ w⊙x: ‖∇‖ = ‖w‖ for every example;
//   - quadratic f(x) = ½‖x‖²: ∇ = x̂_b, so ‖∇‖ = ‖x̂_b‖ differs per example.
//
// The quadratic case also fails the two popular mistakes: a norm over the
// whole batch, or over the last axis only (channels) instead of all of an
// example's values.
func TestGradientPenaltyDefinition(t *testing.T) {
	const b, h, w, c = 5, 4, 3, 2
	d := h * w * c
	real, realT := randImages(1, 1, b, h, w, c)
	fake, fakeT := randImages(2, 0.5, b, h, w, c)
	eps := []float64{0, 0.25, 0.5, 0.9, 1}
	wts, wT := randImages(3, 0.3, 1, h, w, c)
	var wNorm float64
	for _, v := range wts {
		wNorm += v * v
	}
	wNorm = math.Sqrt(wNorm)

	// x̂ per example, in Go.
	xhat := make([]float64, len(real))
	for i := range xhat {
		e := eps[i/d]
		xhat[i] = e*real[i] + (1-e)*fake[i]
	}
	gotXhat := floats(MustExecOnce(nntest.Backend(), func(x, f, e *Node) *Node { return Interpolates(x, f, e) },
		realT, fakeT, tensors.FromValue(eps)))
	for i := range xhat {
		if math.Abs(gotXhat[i]-xhat[i]) > 1e-12 {
			t.Fatalf("x̂[%d] = %g, want ε_b·x + (1−ε_b)·fake = %g (one ε per example)", i, gotXhat[i], xhat[i])
		}
	}

	exampleNorm := make([]float64, b) // ‖x̂_b‖ over all of the example's values
	var batchNorm float64
	var lastAxisGP float64
	for i := 0; i < b; i++ {
		for j := 0; j < d; j++ {
			exampleNorm[i] += xhat[i*d+j] * xhat[i*d+j]
		}
		batchNorm += exampleNorm[i]
		exampleNorm[i] = math.Sqrt(exampleNorm[i])
	}
	batchNorm = math.Sqrt(batchNorm)
	for p := 0; p < b*h*w; p++ { // the norm over channels only, per pixel
		var s float64
		for k := 0; k < c; k++ {
			s += xhat[p*c+k] * xhat[p*c+k]
		}
		lastAxisGP += math.Pow(math.Sqrt(s)-1, 2) / float64(b*h*w)
	}
	var wantQuad float64
	for _, n := range exampleNorm {
		wantQuad += (n - 1) * (n - 1) / b
	}

	tests := []struct {
		name      string
		critic    func(w *Node) func(x *Node) *Node
		wantNorms []float64
		wantGP    float64
		wrong     map[string]float64 // values a wrong implementation would give
	}{
		{"linear", func(w *Node) func(x *Node) *Node {
			return func(x *Node) *Node { return ReduceSum(Reshape(Mul(x, w), b, -1), -1) }
		}, []float64{wNorm, wNorm, wNorm, wNorm, wNorm}, (wNorm - 1) * (wNorm - 1), nil},
		{"quadratic", func(*Node) func(x *Node) *Node {
			return func(x *Node) *Node { return MulScalar(ReduceSum(Reshape(Square(x), b, -1), -1), 0.5) }
		}, exampleNorm, wantQuad, map[string]float64{
			"norm over the batch":     (batchNorm - 1) * (batchNorm - 1),
			"norm over the last axis": lastAxisGP,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs := MustExecOnceN(nntest.Backend(), func(x, f, e, w *Node) []*Node {
				gp, norms := GradientPenalty(tc.critic(w), x, f, e)
				return []*Node{gp, norms}
			}, realT, fakeT, tensors.FromValue(eps), wT)
			gp, norms := floats(outs[0])[0], floats(outs[1])
			for i, n := range norms {
				if math.Abs(n-tc.wantNorms[i]) > 1e-9 {
					t.Errorf("example %d: ‖∇f(x̂)‖ = %.12g, want %.12g", i, n, tc.wantNorms[i])
				}
			}
			if math.Abs(gp-tc.wantGP) > 1e-9 {
				t.Errorf("penalty %.12g, want %.12g", gp, tc.wantGP)
			}
			for what, v := range tc.wrong {
				if math.Abs(v-tc.wantGP) < 0.1*tc.wantGP {
					t.Fatalf("test is too weak: the %s (%g) is close to the right penalty %g", what, v, tc.wantGP)
				}
			}
		})
	}
}

// The package's conv critic (as wgan-gp builds it on images, conditional
// with a projection term) scores each example from that example alone, so
// the gradient of Σ_b f(x̂_b) holds every example's own gradient, and the
// penalty's gradient for the critic's weights (a second-order gradient
// through the fast convolution) and for its inputs matches finite
// differences.
func TestGradientPenaltyConvCritic(t *testing.T) {
	info := models.DataInfo{Shape: []int{8, 8, 1}, NumClasses: 3}
	m := newTestModel(t, Config{Kind: KindWGANGP, GP: 10, Common: Common{Conditional: true, Channels: []int{4, 6}}}, info)
	if m.cfg.Net != NetConv || m.NumClasses() != 3 {
		t.Fatalf("wgan-gp on images: net %s, classes %d; want conv, 3", m.cfg.Net, m.NumClasses())
	}
	const b = 3
	x, xT := randImages(4, 1, b, 8, 8, 1)
	_, fakeT := randImages(5, 1, b, 8, 8, 1)
	labels := tensors.FromValue([]int32{0, 2, 1})
	eps := tensors.FromValue([]float64{0.2, 0.5, 0.8})

	store := newStore(3)
	score := model.MustNewExec(nntest.Backend(), store, func(scope *model.Scope, x, y *Node) *Node {
		return m.Discriminator(scope, x, y)
	})
	base := floats(score.MustCall1(xT, labels))
	// Change example 0 only: the others' scores must not move.
	x2 := append([]float64(nil), x...)
	for i := 0; i < 64; i++ {
		x2[i] += 0.7
	}
	moved := floats(score.MustCall1(tensors.FromFlatDataAndDimensions(x2, b, 8, 8, 1), labels))
	if moved[0] == base[0] {
		t.Errorf("critic ignores its input: score %g both times", base[0])
	}
	for i := 1; i < b; i++ {
		if moved[i] != base[i] {
			t.Errorf("changing example 0 moved the score of example %d: %g -> %g (examples are not independent)", i, base[i], moved[i])
		}
	}

	res := nntest.CheckGradients(t, func(scope *model.Scope, in []*Node) *Node {
		gp, _ := GradientPenalty(func(xh *Node) *Node { return m.Discriminator(scope, xh, in[3]) }, in[0], in[1], in[2])
		return gp
	}, []*tensors.Tensor{xT, fakeT, eps, labels}, &nntest.Options{Tol: 1e-5})
	t.Logf("penalty gradient: %d coordinates, max error %.2g, variables %v", res.Checked, res.MaxError, res.Vars)
	if len(res.Vars) < 6 {
		t.Errorf("checked %d critic variables, want the conv, output and projection weights", len(res.Vars))
	}
}
