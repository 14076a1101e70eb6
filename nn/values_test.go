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

// runBlock runs fn once on float64 inputs and returns the output and the store.
func runBlock(t *testing.T, fn func(s *model.Scope, x *Node) *Node, x *tensors.Tensor) ([]float64, *model.Store) {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	out := model.MustExecOnce(nntest.Backend(), store, fn, x)
	return tensors.MustCopyFlatData[float64](out), store
}

func varData(store *model.Store, path string) []float64 {
	return tensors.MustCopyFlatData[float64](store.GetVariable(path).MustValue())
}

func assertClose(t *testing.T, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("value %d: got %.10g, want %.10g", i, got[i], want[i])
		}
	}
}

// Upsample is nearest-neighbour 2x followed by a 3x3 'same' convolution.
func TestUpsampleIsNearestThenConv(t *testing.T) {
	const b, h, w, c, cout = 2, 3, 4, 2, 3
	x := nntest.Rand(21, b, h, w, c)
	got, store := runBlock(t, func(s *model.Scope, x *Node) *Node { return Upsample(s, x, cout) }, x)
	xs := tensors.MustCopyFlatData[float64](x)
	up := make([]float64, b*2*h*2*w*c)
	for n := 0; n < b; n++ {
		for i := 0; i < 2*h; i++ {
			for j := 0; j < 2*w; j++ {
				for ci := 0; ci < c; ci++ {
					up[((n*2*h+i)*2*w+j)*c+ci] = xs[((n*h+i/2)*w+j/2)*c+ci]
				}
			}
		}
	}
	want := naiveConv(up, b, 2*h, 2*w, c, varData(store, "/weights"), 3, 3, cout, 1, 1)
	bias := varData(store, "/biases")
	for i := range want {
		want[i] += bias[i%cout]
	}
	assertClose(t, got, want, 1e-12)
}

// Downsample is a 2x2 stride-2 convolution over the zero-padded input.
func TestDownsampleIs2x2Stride2(t *testing.T) {
	for _, hw := range [][2]int{{4, 6}, {5, 3}} {
		t.Run(fmt.Sprintf("%dx%d", hw[0], hw[1]), func(t *testing.T) {
			const b, c, cout = 2, 3, 2
			h, w := hw[0], hw[1]
			x := nntest.Rand(22, b, h, w, c)
			got, store := runBlock(t, func(s *model.Scope, x *Node) *Node { return Downsample(s, x, cout) }, x)
			xs := tensors.MustCopyFlatData[float64](x)
			wts, bias := varData(store, "/weights"), varData(store, "/biases") // [(p,q,c), cout]
			oh, ow := (h+1)/2, (w+1)/2
			want := make([]float64, b*oh*ow*cout)
			for n := 0; n < b; n++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						for o := 0; o < cout; o++ {
							v := bias[o]
							for p := 0; p < 2; p++ {
								for q := 0; q < 2; q++ {
									y, z := 2*i+p, 2*j+q
									if y >= h || z >= w {
										continue
									}
									for ci := 0; ci < c; ci++ {
										v += xs[((n*h+y)*w+z)*c+ci] * wts[((p*2+q)*c+ci)*cout+o]
									}
								}
							}
							want[((n*oh+i)*ow+j)*cout+o] = v
						}
					}
				}
			}
			assertClose(t, got, want, 1e-12)
		})
	}
}

func TestSpaceToDepthRoundTrip(t *testing.T) {
	x := nntest.Rand(23, 2, 4, 6, 3)
	out := MustExecOnce(nntest.Backend(), func(x *Node) *Node { return DepthToSpace(SpaceToDepth(x)) }, x)
	assertClose(t, tensors.MustCopyFlatData[float64](out), tensors.MustCopyFlatData[float64](x), 0)
}

// GroupNorm against a two-pass reference, in float32 with a large mean to
// exercise the E[x²]-E[x]² variance.
func TestGroupNormValues(t *testing.T) {
	const b, h, w, c, groups = 2, 3, 4, 6, 3
	raw := tensors.MustCopyFlatData[float64](nntest.Rand(24, b, h, w, c))
	x32 := make([]float32, len(raw))
	for i, v := range raw {
		x32[i] = float32(50 + 2*v)
	}
	x := tensors.FromFlatDataAndDimensions(x32, b, h, w, c)
	store := model.NewStore()
	out := model.MustExecOnce(nntest.Backend(), store, func(s *model.Scope, x *Node) *Node { return GroupNorm(s, x, groups) }, x)
	got := tensors.MustCopyFlatData[float32](out)
	cg := c / groups
	for n := 0; n < b; n++ {
		for g := 0; g < groups; g++ {
			var idx []int
			for p := 0; p < h*w; p++ {
				for k := 0; k < cg; k++ {
					idx = append(idx, (n*h*w+p)*c+g*cg+k)
				}
			}
			var mean, vr float64
			for _, i := range idx {
				mean += float64(x32[i])
			}
			mean /= float64(len(idx))
			for _, i := range idx {
				vr += (float64(x32[i]) - mean) * (float64(x32[i]) - mean)
			}
			vr /= float64(len(idx))
			for _, i := range idx {
				want := (float64(x32[i]) - mean) / math.Sqrt(vr+normEpsilon)
				if math.Abs(float64(got[i])-want) > 2e-3 {
					t.Fatalf("group (%d,%d) index %d: got %g, want %g", n, g, i, got[i], want)
				}
			}
		}
	}
}

func TestLayerNormValues(t *testing.T) {
	x := nntest.Rand(25, 3, 5)
	got, _ := runBlock(t, func(s *model.Scope, x *Node) *Node { return LayerNorm(s, x) }, x)
	xs := tensors.MustCopyFlatData[float64](x)
	want := make([]float64, len(xs))
	for r := 0; r < 3; r++ {
		row := xs[r*5 : r*5+5]
		var m, v float64
		for _, e := range row {
			m += e / 5
		}
		for _, e := range row {
			v += (e - m) * (e - m) / 5
		}
		for k, e := range row {
			want[r*5+k] = (e - m) / math.Sqrt(v+normEpsilon)
		}
	}
	assertClose(t, got, want, 1e-9)
}

func TestUNetShapes(t *testing.T) {
	cases := []struct {
		name   string
		dims   []int
		cfg    UNetConfig
		labels bool
	}{
		{"28x28_conditional", []int{2, 28, 28, 1}, DefaultUNetConfig(10), true},
		{"28x28_null_labels", []int{2, 28, 28, 1}, DefaultUNetConfig(10), false},
		{"odd_unconditional_attention", []int{3, 7, 5, 3},
			UNetConfig{Channels: []int{8, 16, 16}, ResBlocksPerLevel: 2, Groups: 4, Attention: true, TimeDim: 8}, false},
		{"one_level_relu", []int{1, 4, 4, 2},
			UNetConfig{Channels: []int{8}, ResBlocksPerLevel: 1, Groups: 8, TimeDim: 4, Activation: ReLU}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := tensors.FromShape(shapes.Make(dtypes.Float32, tc.dims...))
			ts := tensors.FromValue(make([]float32, tc.dims[0]))
			labels := tensors.FromValue(make([]int32, tc.dims[0]))
			store := model.NewStore()
			out := model.MustExecOnce(nntest.Backend(), store, func(s *model.Scope, x, t, l *Node) *Node {
				if !tc.labels {
					l = nil
				}
				return UNet(s, x, t, l, tc.cfg)
			}, x, ts, labels)
			if !out.Shape().Equal(x.Shape()) {
				t.Fatalf("output %s, want %s", out.Shape(), x.Shape())
			}
			// The final conv is zero-initialised: an untrained U-Net outputs 0.
			for i, v := range tensors.MustCopyFlatData[float32](out) {
				if v != 0 {
					t.Fatalf("untrained output[%d] = %g, want 0", i, v)
				}
			}
		})
	}
}

func TestVelocityMLPShape(t *testing.T) {
	x := nntest.Rand(26, 5, 3)
	out := model.MustExecOnce(nntest.Backend(), model.NewStore(), func(s *model.Scope, x, t *Node) *Node {
		return VelocityMLP(s, x, t, nil, MLPNetConfig{Hidden: []int{8}, TimeDim: 4, NumClasses: 2})
	}, x, unitTimes(5))
	if !out.Shape().Equal(x.Shape()) {
		t.Fatalf("output %s, want %s", out.Shape(), x.Shape())
	}
}

// The channel-major internals compute the same as the public NHWC blocks,
// with the same variables.
func TestChannelMajorMatchesNHWC(t *testing.T) {
	cases := []struct {
		name string
		fn   func(s *model.Scope, x *Node, cm bool) *Node
	}{
		{"conv3", func(s *model.Scope, x *Node, cm bool) *Node { return conv2D(s, x, 4, 3, cm, true) }},
		{"conv1", func(s *model.Scope, x *Node, cm bool) *Node { return conv2D(s, x, 4, 1, cm, true) }},
		{"groupNorm", func(s *model.Scope, x *Node, cm bool) *Node { return groupNorm(s, x, 2, cm) }},
		{"downsample", func(s *model.Scope, x *Node, cm bool) *Node { return downsample(s, x, 3, cm) }},
		{"upsample", func(s *model.Scope, x *Node, cm bool) *Node { return upsample(s, x, 3, cm) }},
		{"padSpatial", func(s *model.Scope, x *Node, cm bool) *Node { return padSpatial(x, 1, 0, 2, 1, cm) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := nntest.Rand(27, 2, 5, 3, 4)
			store := model.NewStore()
			outs := model.MustExecOnceN(nntest.Backend(), store, func(s *model.Scope, x *Node) []*Node {
				nhwc := tc.fn(s.At("block"), x, false)
				cm := tc.fn(s.At("block"), TransposeAllAxes(x, 3, 0, 1, 2), true)
				return []*Node{nhwc, TransposeAllAxes(cm, 1, 2, 3, 0)}
			}, x)
			assertClose(t, tensors.MustCopyFlatData[float64](outs[1]), tensors.MustCopyFlatData[float64](outs[0]), 1e-12)
		})
	}
}
