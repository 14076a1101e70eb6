package nn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

// tinyDiT is a DiT small enough for finite differences on 8x8 images
// (patch 4: 2x2 = 4 tokens).
func tinyDiT(numClasses int) DiTConfig {
	return DiTConfig{Patch: 4, Width: 8, Depth: 1, Heads: 2, MLPRatio: 2, NumClasses: numClasses, TimeDim: 6}
}

// TestDiTGradients checks the DiT's gradients with respect to its inputs and
// every variable against central finite differences, in float64. The
// zero-initialised adaLN and output layers are randomised first; otherwise
// the output would be 0 and every gradient upstream of it would vanish.
func TestDiTGradients(t *testing.T) {
	deep := tinyDiT(3)
	deep.Depth = 2
	cases := []struct {
		name   string
		cfg    DiTConfig
		inputs []*tensors.Tensor
	}{
		{"conditional", tinyDiT(3), []*tensors.Tensor{nntest.Rand(21, 2, 8, 8, 1), unitTimes(2), labelsTensor(1, 3)}},
		{"unconditional_rgb", tinyDiT(0), []*tensors.Tensor{nntest.Rand(22, 2, 4, 8, 3), unitTimes(2)}},
		{"depth2_patch2", func() DiTConfig { c := deep; c.Patch = 2; return c }(),
			[]*tensors.Tensor{nntest.Rand(23, 1, 4, 6, 2), unitTimes(1), labelsTensor(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := nntest.CheckBlock(t, func(s *model.Scope, in []*Node) *Node {
				var labels *Node
				if len(in) > 2 {
					labels = in[2]
				}
				return DiT(s, in[0], in[1], labels, tc.cfg)
			}, tc.inputs, &nntest.Options{RandomizeVars: 0.5, MaxCoords: 6, Step: 1e-7, Tol: 1e-5}) // t enters at frequencies up to 1000
			t.Logf("%d coordinates, max error %.2g", res.Checked, res.MaxError)
			// patch_embed, time_1, time_2 (2 each), per block modulation,
			// attention (8), mlp_1, mlp_2, final modulation and output; + class.
			want := 6 + tc.cfg.Depth*14 + 4
			if tc.cfg.NumClasses > 0 {
				want++
			}
			if len(res.Vars) != want {
				t.Errorf("checked %d variables %v, want %d", len(res.Vars), res.Vars, want)
			}
		})
	}
}

// TestDiTAttention checks DiT's token attention: equal to SelfAttention
// (same variables), and its gradients, first and second order, against
// finite differences (bmm carries a hand-written VJP).
func TestDiTAttention(t *testing.T) {
	t.Run("equals_SelfAttention", func(t *testing.T) {
		for _, heads := range []int{1, 2, 4} {
			store := model.NewStore()
			outs := model.MustExecOnceN(nntest.Backend(), store, func(s *model.Scope, x *Node) []*Node {
				return []*Node{tokenAttention(s.At("attention"), x, heads), SelfAttention(s.At("attention"), x, heads)}
			}, nntest.Rand(31, 3, 5, 8))
			got, want := tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12 {
					t.Fatalf("heads %d: element %d = %.15g, SelfAttention gives %.15g", heads, i, got[i], want[i])
				}
			}
		}
	})
	t.Run("gradients", func(t *testing.T) {
		nntest.CheckBlock(t, func(s *model.Scope, in []*Node) *Node { return tokenAttention(s, in[0], 2) },
			[]*tensors.Tensor{nntest.Rand(32, 2, 3, 4)}, nil)
	})
	t.Run("second_order", func(t *testing.T) {
		// Σ (∂/∂x Σ attention(x)·R)²: differentiates bmm's own VJP.
		nntest.CheckGradients(t, func(s *model.Scope, in []*Node) *Node {
			x := in[0]
			grad := Gradient(nntest.WeightedSum(tokenAttention(s, x, 2)), x)[0]
			return ReduceAllSum(Square(grad))
		}, []*tensors.Tensor{nntest.Rand(33, 2, 3, 4)}, &nntest.Options{MaxCoords: 8})
	})
}

// TestDiTFreshOutput checks the output shape and dtype, and that an
// untrained DiT outputs exactly zero (adaLN-Zero blocks and a zero final
// layer), with and without classes, with labels or nil (NullClass).
func TestDiTFreshOutput(t *testing.T) {
	cases := []struct {
		name   string
		cfg    DiTConfig
		dims   []int
		labels bool
	}{
		{"conditional", tinyDiT(3), []int{3, 8, 8, 1}, true},
		{"conditional_nil_labels", tinyDiT(3), []int{3, 8, 8, 1}, false},
		{"unconditional", tinyDiT(0), []int{2, 8, 12, 3}, false},
		{"default_28x28", DefaultDiTConfig(10), []int{2, 28, 28, 1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randF32(tc.dims...)
			b := tc.dims[0]
			ts := make([]float32, b)
			ls := make([]int32, b)
			for i := range ts {
				ts[i] = (float32(i) + 0.5) / float32(b)
				ls[i] = int32(i % max(tc.cfg.NumClasses, 1))
			}
			store := model.NewStore()
			exec := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, t, labels *Node) *Node {
				if !tc.labels {
					labels = nil
				}
				return DiT(s, x, t, labels, tc.cfg)
			})
			out := exec.MustCall1(x, tensors.FromValue(ts), tensors.FromValue(ls))
			if want := shapes.Make(dtypes.Float32, tc.dims...); !out.Shape().Equal(want) {
				t.Fatalf("output shape %s, want %s", out.Shape(), want)
			}
			for i, v := range tensors.MustCopyFlatData[float32](out) {
				if v != 0 {
					t.Fatalf("untrained DiT output[%d] = %g, want exactly 0", i, v)
				}
			}
			if tc.cfg.NumClasses > 0 && store.GetVariable("/class/embeddings") == nil {
				t.Errorf("no class embedding variable")
			}
			if tc.cfg.NumClasses == 0 && store.GetVariable("/class/embeddings") != nil {
				t.Errorf("unconditional DiT has a class embedding")
			}
		})
	}
}

// TestDiTBlocksStartAsIdentity checks that with only the final layer made
// non-zero, a fresh DiT equals the same network with no blocks: every
// adaLN-Zero block starts as the identity.
func TestDiTBlocksStartAsIdentity(t *testing.T) {
	x, ts, ls := nntest.Rand(24, 2, 8, 8, 2), unitTimes(2), labelsTensor(0, 3)
	run := func(depth int) []float64 {
		cfg := tinyDiT(3)
		cfg.Depth = depth
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(5))
		exec := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, t, l *Node) *Node {
			return DiT(s, x, t, l, cfg)
		})
		exec.MustCall1(x, ts, ls)
		for _, path := range []string{"/final/output/weights", "/final/modulation/weights"} {
			v := store.GetVariable(path)
			w := make([]float64, v.Shape().Size())
			for i := range w {
				w[i] = math.Sin(float64(i)+1) / 2
			}
			tw := tensors.FromShape(v.Shape())
			tensors.MustMutableFlatData(tw, func(f []float64) { copy(f, w) })
			if err := v.SetValue(tw); err != nil {
				t.Fatal(err)
			}
		}
		return tensors.MustCopyFlatData[float64](exec.MustCall1(x, ts, ls))
	}
	with, without := run(2), run(0)
	nonzero := false
	for i := range with {
		if with[i] != without[i] {
			t.Fatalf("output[%d]: %g with 2 fresh blocks, %g with none", i, with[i], without[i])
		}
		nonzero = nonzero || with[i] != 0
	}
	if !nonzero {
		t.Fatalf("output is all zeros after setting the final layer's weights")
	}
}

// setRandomVars replaces every trainable float variable of store by values
// uniform in [-0.5, 0.5).
func setRandomVars(t *testing.T, store *model.Store, seed uint64) {
	for v := range store.IterVariables() {
		if !v.Trainable || !v.DType().IsFloat() {
			continue
		}
		r := nntest.Rand(seed, v.Shape().Size())
		seed++
		tv := tensors.FromShape(v.Shape())
		src := tensors.MustCopyFlatData[float64](r)
		switch v.DType() {
		case dtypes.Float64:
			tensors.MustMutableFlatData(tv, func(f []float64) {
				for i := range f {
					f[i] = src[i] / 2
				}
			})
		case dtypes.Float32:
			tensors.MustMutableFlatData(tv, func(f []float32) {
				for i := range f {
					f[i] = float32(src[i] / 2)
				}
			})
		}
		if err := v.SetValue(tv); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiTLabels checks, on a DiT with random weights, that nil labels mean
// NullClass for every example (classifier-free guidance), that the label
// changes the output, and that each example's output depends on its own
// label only.
func TestDiTLabels(t *testing.T) {
	cfg := tinyDiT(3)
	null := int32(NullClass(3))
	x, ts := nntest.Rand(26, 2, 8, 8, 1), unitTimes(2)
	store := model.NewStore()
	withLabels := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, t, l *Node) *Node {
		return DiT(s, x, t, l, cfg)
	})
	noLabels := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, t *Node) *Node {
		return DiT(s, x, t, nil, cfg)
	})
	withLabels.MustCall1(x, ts, labelsTensor(0, 0))
	setRandomVars(t, store, 100)
	run := func(l ...int32) []float64 {
		return tensors.MustCopyFlatData[float64](withLabels.MustCall1(x, ts, labelsTensor(l...)))
	}
	half := 8 * 8 // one example's output
	nullOut, nilOut := run(null, null), tensors.MustCopyFlatData[float64](noLabels.MustCall1(x, ts))
	for i := range nullOut {
		if nilOut[i] != nullOut[i] {
			t.Fatalf("output[%d]: %g with nil labels, %g with NullClass", i, nilOut[i], nullOut[i])
		}
	}
	a, b := run(0, null), run(1, null)
	differs := false
	for i := range a {
		if i < half {
			differs = differs || a[i] != b[i]
		} else if a[i] != b[i] || a[i] != nullOut[i] {
			t.Fatalf("output[%d] of example 1 changed with example 0's label", i)
		}
	}
	if !differs {
		t.Fatalf("labels 0 and 1 give the same output")
	}
}

// TestDiTPatchify checks that unpatchify inverts patchify, and that a patch
// holds a contiguous p x p block of the image in (row, column, channel) order.
func TestDiTPatchify(t *testing.T) {
	for _, tc := range []struct{ b, h, w, c, p int }{{2, 8, 8, 1, 4}, {1, 6, 4, 3, 2}, {2, 28, 28, 1, 4}, {1, 3, 3, 2, 1}} {
		t.Run(fmt.Sprintf("%dx%dx%d_p%d", tc.h, tc.w, tc.c, tc.p), func(t *testing.T) {
			x := nntest.Rand(25, tc.b, tc.h, tc.w, tc.c)
			outs := MustExecOnceN(nntest.Backend(), func(x *Node) []*Node {
				y := patchify(x, tc.p)
				return []*Node{y, unpatchify(y, tc.b, tc.h, tc.w, tc.c, tc.p)}
			}, x)
			gw, n := tc.w/tc.p, (tc.h/tc.p)*(tc.w/tc.p)
			if want := shapes.Make(dtypes.Float64, tc.b, n, tc.p*tc.p*tc.c); !outs[0].Shape().Equal(want) {
				t.Fatalf("patchify shape %s, want %s", outs[0].Shape(), want)
			}
			xs := tensors.MustCopyFlatData[float64](x)
			ps := tensors.MustCopyFlatData[float64](outs[0])
			back := tensors.MustCopyFlatData[float64](outs[1])
			for i := range xs {
				if back[i] != xs[i] {
					t.Fatalf("unpatchify(patchify(x))[%d] = %g, want %g", i, back[i], xs[i])
				}
			}
			// Element (b, token, (r,s,ch)) is x[b, gi·p+r, gj·p+s, ch] with token = gi·gw+gj.
			k := 0
			for b := range tc.b {
				for tok := range n {
					gi, gj := tok/gw, tok%gw
					for r := range tc.p {
						for s := range tc.p {
							for ch := range tc.c {
								want := xs[((b*tc.h+gi*tc.p+r)*tc.w+gj*tc.p+s)*tc.c+ch]
								if ps[k] != want {
									t.Fatalf("patch element %d = %g, want %g", k, ps[k], want)
								}
								k++
							}
						}
					}
				}
			}
		})
	}
}

// TestDiTPosEmbedding compares the positional embedding with the closed
// form at a few grid positions, and checks that the graph uses it.
func TestDiTPosEmbedding(t *testing.T) {
	const gh, gw, dim = 7, 5, 16
	table := posEmbedding2D(gh, gw, dim)
	if len(table) != gh*gw {
		t.Fatalf("%d rows, want %d", len(table), gh*gw)
	}
	q := dim / 4
	for _, pos := range [][2]int{{0, 0}, {0, 1}, {3, 2}, {6, 4}} {
		i, j := pos[0], pos[1]
		row := table[i*gw+j]
		for k := range q {
			w := 1 / math.Pow(10000, float64(k)/float64(q))
			want := map[int]float64{
				k: math.Sin(float64(j) * w), q + k: math.Cos(float64(j) * w),
				2*q + k: math.Sin(float64(i) * w), 3*q + k: math.Cos(float64(i) * w),
			}
			for idx, v := range want {
				if math.Abs(row[idx]-v) > 1e-12 {
					t.Errorf("position (%d,%d) entry %d = %.15g, want %.15g", i, j, idx, row[idx], v)
				}
			}
		}
	}
	// Token (0,0) is [0,...,0, 1,...,1, 0,...,0, 1,...,1].
	for k, v := range table[0] {
		if want := float64((k / q) % 2); v != want {
			t.Errorf("position (0,0) entry %d = %g, want %g", k, v, want)
		}
	}
}

// TestDiTGeluTanh checks the logistic form of the tanh-approximated GELU
// against x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func TestDiTGeluTanh(t *testing.T) {
	xs := []float64{-6, -2.5, -1, -0.3, 0, 0.2, 1, 1.7, 4, 9}
	got := tensors.MustCopyFlatData[float64](MustExecOnce(nntest.Backend(), geluTanh, tensors.FromValue(xs)))
	for i, x := range xs {
		want := x / 2 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		if math.Abs(got[i]-want) > 1e-14 {
			t.Errorf("geluTanh(%g) = %.17g, want %.17g", x, got[i], want)
		}
	}
}

// TestDiTInvalidConfig checks the panics on sizes the DiT cannot handle.
func TestDiTInvalidConfig(t *testing.T) {
	bad := func() DiTConfig { return tinyDiT(0) }
	cases := []struct {
		name string
		cfg  DiTConfig
		dims []int
	}{
		{"patch_does_not_divide", bad(), []int{1, 8, 6, 1}},
		{"heads_do_not_divide", func() DiTConfig { c := bad(); c.Heads = 3; return c }(), []int{1, 8, 8, 1}},
		{"width_not_multiple_of_4", func() DiTConfig { c := bad(); c.Width, c.Heads = 6, 2; return c }(), []int{1, 8, 8, 1}},
		{"zero_patch", func() DiTConfig { c := bad(); c.Patch = 0; return c }(), []int{1, 8, 8, 1}},
		{"not_an_image", bad(), []int{1, 64}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A plain graph, not an Exec: in GoMLX v0.28.2 a panic while an
			// Exec compiles leaves its Finalize (deferred by MustExecOnce)
			// waiting forever.
			g := NewGraph(nntest.Backend(), "invalid")
			defer g.Finalize()
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("DiT accepted config %+v on %v", tc.cfg, tc.dims)
				} else if msg := fmt.Sprint(r); !strings.HasPrefix(msg, "nn.DiT: ") {
					t.Errorf("panic %q, want DiT's own message", msg)
				}
			}()
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, tc.dims...))
			tt := Parameter(g, "t", shapes.Make(dtypes.Float32, tc.dims[0]))
			DiT(model.NewStore().RootScope(), x, tt, nil, tc.cfg)
		})
	}
}

// BenchmarkDiTTrainStep is one Adam step of the default class-conditional
// DiT on 28x28x1 images (compare BenchmarkUNetStep).
func BenchmarkDiTTrainStep(b *testing.B) {
	cfg := DefaultDiTConfig(10)
	for _, batch := range []int{64, 32} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return DiT(s, x, t, l, cfg) }, []int{batch, 28, 28, 1})
		})
	}
}

// BenchmarkDiTConfigs compares sizes around the default (patch 4, width
// 128, depth 4, MLP ratio 2) at batch 64.
func BenchmarkDiTConfigs(b *testing.B) {
	for _, tc := range []struct {
		name string
		edit func(*DiTConfig)
	}{
		{"default", func(*DiTConfig) {}},
		{"mlp_ratio4", func(c *DiTConfig) { c.MLPRatio = 4 }},
		{"depth6", func(c *DiTConfig) { c.Depth = 6 }},
		{"width192", func(c *DiTConfig) { c.Width = 192 }},
		{"heads2", func(c *DiTConfig) { c.Heads = 2 }},
		{"patch2", func(c *DiTConfig) { c.Patch = 2 }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultDiTConfig(10)
			tc.edit(&cfg)
			benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return DiT(s, x, t, l, cfg) }, []int{64, 28, 28, 1})
		})
	}
}
