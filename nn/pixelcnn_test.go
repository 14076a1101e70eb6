package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

// pixelSupport returns, for every output (i,j,c) of a PixelCNN with random
// weights on h x w x c images, which inputs (i',j',c') its logits have a
// non-zero gradient for: sees[(i·w+j)·c+ch][(i'·w+j')·c+c'], summed in
// absolute value over 8 random images, so that no input is missed because
// the few ReLUs on its only paths happen to be off (with C = 3 a channel's
// centre path runs through one colour group's maps only).
//
// All outputs are done in one call: the batch holds every output position
// once per random image, and example k's loss is the sum of its own
// position's logits; the examples are independent, so the gradient of the
// total with respect to example k's input is that position's gradient.
func pixelSupport(t *testing.T, cfg PixelCNNConfig, h, w, c int) [][]bool {
	t.Helper()
	const images = 8
	p := h * w * c
	n := images * p
	base := tensors.MustCopyFlatData[float64](nntest.Rand(41, images, h, w, c))
	xs := make([]float64, 0, n*p)
	sel := make([]float64, n*p)
	labels := make([]int32, n)
	for im := range images {
		for k := range p {
			xs = append(xs, base[im*p:(im+1)*p]...)
			sel[(im*p+k)*p+k] = 1
			labels[im*p+k] = int32((im + k) % max(cfg.NumClasses, 1))
		}
	}
	x := tensors.FromFlatDataAndDimensions(xs, n, h, w, c)
	s := tensors.FromFlatDataAndDimensions(sel, n, h, w, c)

	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	exec := model.MustNewExec(nntest.Backend(), store, func(scope *model.Scope, x, sel, labels *Node) *Node {
		if cfg.NumClasses == 0 {
			labels = nil
		}
		logits := PixelCNN(scope, x, labels, cfg)              // [N,H,W,C,V]
		loss := ReduceAllSum(Mul(logits, InsertAxes(sel, -1))) // broadcast over V
		return Gradient(loss, x)[0]
	})
	exec.MustCall1(x, s, tensors.FromValue(labels)) // creates the variables
	// Random weights everywhere (including the biases and class tables), so
	// that no path is zero by initialisation.
	setRandomVars(t, store, 77)
	grad := tensors.MustCopyFlatData[float64](exec.MustCall1(x, s, tensors.FromValue(labels)))

	sees := make([][]bool, p)
	for k := range p {
		sum := make([]float64, p)
		for im := range images {
			for q, v := range grad[(im*p+k)*p : (im*p+k+1)*p] {
				sum[q] += math.Abs(v)
			}
		}
		sees[k] = make([]bool, p)
		for q, v := range sum {
			sees[k][q] = v != 0
		}
	}
	return sees
}

// pixelCNNSees is the receptive field documented on PixelCNN: does the
// output at (i,j), channel c see input (i2,j2), channel c2?
func pixelCNNSees(cfg PixelCNNConfig, i, j, c, i2, j2, c2 int) bool {
	cfg = cfg.withDefaults()
	a, b, l := cfg.FirstKernel/2, cfg.Kernel/2, cfg.Layers
	big := a + l*b
	r, d := i-i2, j2-j
	switch {
	case r < 0:
		return false
	case r == 0 && d == 0:
		return c2 < c
	case r == 0:
		return d < 0 && -d <= big
	case cfg.Gated:
		return r <= big+1 && -big <= d && d <= big
	}
	return r <= big && -big <= d && d <= a+b*min(r-1, l)
}

var pixelCases = []struct {
	name    string
	cfg     PixelCNNConfig
	h, w, c int
}{
	{"masked", PixelCNNConfig{Channels: 8, Layers: 3, FirstKernel: 3, Values: 1}, 7, 7, 1},
	{"masked_first7", PixelCNNConfig{Channels: 8, Layers: 2, Values: 2}, 7, 7, 1},
	{"masked_conditional", PixelCNNConfig{Channels: 8, Layers: 3, FirstKernel: 3, Values: 1, NumClasses: 3}, 6, 6, 1},
	{"masked_rgb", PixelCNNConfig{Channels: 12, Layers: 2, FirstKernel: 3, Values: 2}, 5, 5, 3},
	{"gated", PixelCNNConfig{Gated: true, Channels: 8, Layers: 2, FirstKernel: 3, Values: 1}, 7, 7, 1},
	{"gated_whole_past", PixelCNNConfig{Gated: true, Channels: 8, Layers: 2, Values: 1}, 6, 6, 1},
	{"gated_conditional", PixelCNNConfig{Gated: true, Channels: 8, Layers: 3, FirstKernel: 3, Values: 3, NumClasses: 3}, 6, 6, 1},
	{"gated_rgb", PixelCNNConfig{Gated: true, Channels: 12, Layers: 2, FirstKernel: 3, Kernel: 5, Values: 2}, 5, 5, 3},
}

// TestPixelCNNReceptiveField checks, by input gradients with random
// weights, that every output (i,j,c) sees exactly the inputs documented on
// PixelCNN. That includes the autoregressive property (a zero gradient for
// every input at or after (i,j) in raster order, except the channels < c of
// (i,j) itself), the blind spot of the masked stack, and its absence in the
// gated one.
func TestPixelCNNReceptiveField(t *testing.T) {
	for _, tc := range pixelCases {
		t.Run(tc.name, func(t *testing.T) {
			h, w, c := tc.h, tc.w, tc.c
			sees := pixelSupport(t, tc.cfg, h, w, c)
			errs := 0
			for i := range h {
				for j := range w {
					for ch := range c {
						for i2 := range h {
							for j2 := range w {
								for c2 := range c {
									got := sees[(i*w+j)*c+ch][(i2*w+j2)*c+c2]
									future := i2 > i || (i2 == i && (j2 > j || (j2 == j && c2 >= ch)))
									if got && future {
										t.Errorf("output (%d,%d,%d) depends on input (%d,%d,%d), which is not before it", i, j, ch, i2, j2, c2)
										errs++
									} else if want := pixelCNNSees(tc.cfg, i, j, ch, i2, j2, c2); got != want && !future {
										t.Errorf("output (%d,%d,%d) sees input (%d,%d,%d): %v, documented %v", i, j, ch, i2, j2, c2, got, want)
										errs++
									}
									if errs > 10 {
										t.FailNow()
									}
								}
							}
						}
					}
				}
			}
		})
	}

	// The documented fields have the shape the papers describe.
	masked := PixelCNNConfig{Channels: 8, Layers: 3, FirstKernel: 3, Values: 1}
	// Blind spot: (3,3) does not see (2,5), next to it, although it sees
	// (0,6), further up and to the right.
	if pixelCNNSees(masked, 3, 3, 0, 2, 5, 0) || !pixelCNNSees(masked, 3, 3, 0, 0, 6, 0) {
		t.Errorf("masked PixelCNN field lacks the blind spot at (2,5) of (3,3)")
	}
	// Gated with 7x7 first layer and 2 more layers on 6x6: the whole past.
	gated := PixelCNNConfig{Gated: true, Channels: 8, Layers: 2, Values: 1}
	for i2 := range 6 {
		for j2 := range 6 {
			if (i2 < 5 || j2 < 5) && !pixelCNNSees(gated, 5, 5, 0, i2, j2, 0) {
				t.Errorf("gated PixelCNN field of (5,5) misses (%d,%d)", i2, j2)
			}
		}
	}
}

// TestPixelCNNShapeAndLabels checks the output shape [B,H,W,C,V] for V = 1
// and 256, and that the label changes the output of its example only.
func TestPixelCNNShapeAndLabels(t *testing.T) {
	for _, gated := range []bool{false, true} {
		for _, v := range []int{1, 256} {
			t.Run(fmt.Sprintf("gated=%v_V=%d", gated, v), func(t *testing.T) {
				cfg := PixelCNNConfig{Gated: gated, Channels: 8, Layers: 2, Values: v, NumClasses: 3}
				store := model.NewStore()
				store.SetParam(model.ParamInitialSeed, int64(5))
				exec := model.MustNewExec(nntest.Backend(), store, func(scope *model.Scope, x, labels *Node) *Node {
					return PixelCNN(scope, x, labels, cfg)
				})
				x := tensors.FromFlatDataAndDimensions(toFloat32(tensors.MustCopyFlatData[float64](nntest.Rand(6, 2, 6, 6, 1))), 2, 6, 6, 1)
				out := exec.MustCall1(x, tensors.FromValue([]int32{0, 1}))
				if want := shapes.Make(dtypes.Float32, 2, 6, 6, 1, v); !out.Shape().Equal(want) {
					t.Fatalf("shape %s, want %s", out.Shape(), want)
				}
				a := tensors.MustCopyFlatData[float32](out)
				b := tensors.MustCopyFlatData[float32](exec.MustCall1(x, tensors.FromValue([]int32{2, 1})))
				half := len(a) / 2
				changed := 0
				for k := range a {
					switch {
					case k < half && a[k] != b[k]:
						changed++
					case k >= half && a[k] != b[k]:
						t.Fatalf("output %d of the example whose label did not change changed: %g -> %g", k, a[k], b[k])
					}
				}
				if changed != half {
					t.Errorf("%d of %d outputs changed with the label, want all", changed, half)
				}
			})
		}
	}
}

// TestPixelCNNGradients checks the gradients (inputs and every variable)
// against finite differences on tiny networks.
func TestPixelCNNGradients(t *testing.T) {
	for _, cfg := range []PixelCNNConfig{
		{Gated: true, Channels: 3, Layers: 1, FirstKernel: 3, Values: 2, NumClasses: 2},
		{Channels: 3, Layers: 1, FirstKernel: 3, Values: 2, NumClasses: 2},
	} {
		t.Run(fmt.Sprintf("gated=%v", cfg.Gated), func(t *testing.T) {
			x := nntest.Rand(8, 2, 4, 4, 3)
			res := nntest.CheckBlock(t, func(s *model.Scope, in []*Node) *Node {
				return PixelCNN(s, in[0], in[1], cfg)
			}, []*tensors.Tensor{x, tensors.FromValue([]int32{0, 1})}, &nntest.Options{RandomizeVars: 0.5, MaxCoords: 4})
			t.Logf("%d coordinates, max error %.2g, %d variables", res.Checked, res.MaxError, len(res.Vars))
			// Per layer: gated 4 convolutions + 2 class tables, masked 1 + 1;
			// plus the two head convolutions.
			want := 2 * (2 + 1)
			if cfg.Gated {
				want = 2 * (4*2 + 2)
			}
			if want += 4; len(res.Vars) != want {
				t.Errorf("checked %d variables %v, want %d", len(res.Vars), res.Vars, want)
			}
		})
	}
}

// BenchmarkPixelCNNStep is one Adam step (benchStep's squared-error loss on
// the V = 1 logits) on 28x28x1 images, batch 64.
func BenchmarkPixelCNNStep(b *testing.B) {
	for _, cfg := range []PixelCNNConfig{
		{Gated: true, Channels: 64, Layers: 10, Values: 1, NumClasses: 10},
		{Gated: true, Channels: 32, Layers: 10, Values: 1, NumClasses: 10},
		{Gated: false, Channels: 64, Layers: 10, Values: 1, NumClasses: 10},
	} {
		b.Run(fmt.Sprintf("gated=%v_ch%d", cfg.Gated, cfg.Channels), func(b *testing.B) {
			benchStep(b, func(s *model.Scope, x, _, l *Node) *Node {
				return Reshape(PixelCNN(s, x, l, cfg), x.Shape().Dimensions...)
			}, []int{64, 28, 28, 1})
		})
	}
}

func toFloat32(x []float64) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = float32(v)
	}
	return r
}
