package nn

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

func labelsTensor(v ...int32) *tensors.Tensor { return tensors.FromValue(v) }

// unitTimes returns t [n] in (0,1).
func unitTimes(n int) *tensors.Tensor {
	t := make([]float64, n)
	for i := range t {
		t[i] = (float64(i) + 0.37) / float64(n+1)
	}
	return tensors.FromValue(t)
}

// TestBlockGradients checks every block's gradient with respect to its
// inputs and variables against central finite differences, in float64.
func TestBlockGradients(t *testing.T) {
	tinyUNet := UNetConfig{Channels: []int{4, 8}, ResBlocksPerLevel: 1, NumClasses: 3, Groups: 2, Attention: true, Heads: 2, TimeDim: 6}
	cases := []struct {
		name   string
		inputs []*tensors.Tensor
		fn     nntest.ScalarFn
		opts   *nntest.Options
	}{
		{"Dense", []*tensors.Tensor{nntest.Rand(1, 2, 3, 4)},
			func(s *model.Scope, in []*Node) *Node { return Dense(s, in[0], 5) }, nil},
		{"MLP", []*tensors.Tensor{nntest.Rand(2, 3, 4)},
			func(s *model.Scope, in []*Node) *Node { return MLP(s, in[0], []int{6, 5}, 2) }, nil},
		{"Conv2D_k1", []*tensors.Tensor{nntest.Rand(3, 2, 3, 4, 3)},
			func(s *model.Scope, in []*Node) *Node { return Conv2D(s, in[0], 2, 1) }, nil},
		{"Conv2D_k3", []*tensors.Tensor{nntest.Rand(4, 2, 4, 3, 3)},
			func(s *model.Scope, in []*Node) *Node { return Conv2D(s, in[0], 4, 3) }, nil},
		{"Conv2D_k5", []*tensors.Tensor{nntest.Rand(4, 1, 5, 4, 2)},
			func(s *model.Scope, in []*Node) *Node { return Conv2D(s, in[0], 2, 5) }, nil},
		{"Downsample_even", []*tensors.Tensor{nntest.Rand(5, 2, 4, 4, 3)},
			func(s *model.Scope, in []*Node) *Node { return Downsample(s, in[0], 4) }, nil},
		{"Downsample_odd", []*tensors.Tensor{nntest.Rand(6, 2, 5, 3, 2)},
			func(s *model.Scope, in []*Node) *Node { return Downsample(s, in[0], 3) }, nil},
		{"Upsample", []*tensors.Tensor{nntest.Rand(7, 2, 3, 4, 3)},
			func(s *model.Scope, in []*Node) *Node { return Upsample(s, in[0], 2) }, nil},
		{"Downsample_channel_major", []*tensors.Tensor{nntest.Rand(15, 2, 3, 5, 2)},
			func(s *model.Scope, in []*Node) *Node { return downsample(s, in[0], 3, true) }, nil},
		{"Upsample_channel_major", []*tensors.Tensor{nntest.Rand(16, 2, 3, 2, 3)},
			func(s *model.Scope, in []*Node) *Node { return upsample(s, in[0], 2, true) }, nil},
		{"GroupNorm_channel_major", []*tensors.Tensor{nntest.Rand(17, 4, 2, 3, 3)},
			func(s *model.Scope, in []*Node) *Node { return groupNorm(s, in[0], 2, true) },
			&nntest.Options{RandomizeVars: 1}},
		{"PadSpatial", []*tensors.Tensor{nntest.Rand(8, 2, 3, 2, 2)},
			func(s *model.Scope, in []*Node) *Node { return PadSpatial(in[0], 1, 2, 0, 3) }, nil},
		{"GroupNorm", []*tensors.Tensor{nntest.Rand(9, 2, 3, 3, 4)},
			func(s *model.Scope, in []*Node) *Node { return GroupNorm(s, in[0], 2) },
			&nntest.Options{RandomizeVars: 1}},
		{"LayerNorm", []*tensors.Tensor{nntest.Rand(10, 3, 5)},
			func(s *model.Scope, in []*Node) *Node { return LayerNorm(s, in[0]) },
			&nntest.Options{RandomizeVars: 1}},
		{"SelfAttention", []*tensors.Tensor{nntest.Rand(11, 2, 3, 4)},
			func(s *model.Scope, in []*Node) *Node { return SelfAttention(s, in[0], 2) }, nil},
		{"ClassEmbedding", []*tensors.Tensor{labelsTensor(0, 2, 3, 1)},
			func(s *model.Scope, in []*Node) *Node { return ClassEmbeddingAs(s, in[0], 3, 4, dtypes.Float64) }, nil},
		{"TimeEmbedding", []*tensors.Tensor{unitTimes(3)},
			func(s *model.Scope, in []*Node) *Node { return TimeEmbedding(in[0], 5) },
			&nntest.Options{Step: 1e-7, Tol: 1e-5}}, // frequencies up to 1000: a small step
		{"UNet", []*tensors.Tensor{nntest.Rand(12, 2, 6, 5, 1), unitTimes(2), labelsTensor(1, 3)},
			func(s *model.Scope, in []*Node) *Node { return UNet(s, in[0], in[1], in[2], tinyUNet) },
			&nntest.Options{RandomizeVars: 0.5, MaxCoords: 6, Step: 1e-7, Tol: 1e-5}}, // t enters at frequencies up to 1000
		{"VelocityMLP", []*tensors.Tensor{nntest.Rand(13, 3, 2), unitTimes(3), labelsTensor(0, 2, 1)},
			func(s *model.Scope, in []*Node) *Node {
				return VelocityMLP(s, in[0], in[1], in[2], MLPNetConfig{Hidden: []int{5, 4}, TimeDim: 4, NumClasses: 2})
			}, &nntest.Options{Step: 1e-7, Tol: 1e-5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nntest.CheckBlock(t, tc.fn, tc.inputs, tc.opts)
		})
	}
}

// TestWGANGPSecondOrder checks the gradient, with respect to the critic's
// weights, of the WGAN-GP penalty mean((‖∇ₓD(x)‖₂ − 1)²) for a conv critic:
// a second-order gradient through Conv2D, Downsample and Dense.
func TestWGANGPSecondOrder(t *testing.T) {
	critic := func(s *model.Scope, x *Node) *Node {
		h := Act(Conv2D(s.In("conv"), x, 3, 3))
		h = Act(Downsample(s.In("down"), h, 4))
		d := h.Shape().Dimensions
		return Dense(s.In("out"), Reshape(h, d[0], -1), 1)
	}
	x := nntest.Rand(14, 2, 4, 4, 2)
	res := nntest.CheckGradients(t, func(s *model.Scope, in []*Node) *Node {
		x := in[0]
		grad := Gradient(ReduceAllSum(critic(s, x)), x)[0]
		norm := Sqrt(AddScalar(ReduceSum(Square(Reshape(grad, 2, -1)), -1), 1e-12))
		return ReduceAllMean(Square(AddScalar(norm, -1)))
	}, []*tensors.Tensor{x}, &nntest.Options{NoInputs: true, MaxCoords: 12})
	if len(res.Vars) != 6 {
		t.Errorf("checked variables %v, want the 6 critic variables", res.Vars)
	}
}

func TestClassEmbeddingNullClass(t *testing.T) {
	store := model.NewStore()
	out := model.MustExecOnce(nntest.Backend(), store, func(s *model.Scope, labels *Node) *Node {
		return ClassEmbedding(s, labels, 10, 3)
	}, labelsTensor(0, int32(NullClass(10)), 9))
	if NullClass(10) != 10 {
		t.Fatalf("NullClass(10) = %d", NullClass(10))
	}
	if got := out.Shape(); !got.Equal(shapes.Make(dtypes.Float32, 3, 3)) {
		t.Fatalf("shape %s", got)
	}
	table := tensors.MustCopyFlatData[float32](store.GetVariable("/embeddings").MustValue())
	row := tensors.MustCopyFlatData[float32](out)[3:6]
	for i, v := range row {
		if v != table[10*3+i] || v == 0 {
			t.Fatalf("null-class embedding %v, want row 10 of the table %v", row, table[30:33])
		}
	}
}

func TestTimeEmbeddingValues(t *testing.T) {
	out := MustExecOnce(nntest.Backend(), func(t *Node) *Node { return TimeEmbedding(t, 4) },
		tensors.FromValue([]float64{0, 0.5}))
	got := tensors.MustCopyFlatData[float64](out)
	// half=2: f = 1000·[1, 10000^-0.5] = [1000, 10].
	want := []float64{0, 0, 1, 1, math.Sin(500), math.Sin(5), math.Cos(500), math.Cos(5)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("TimeEmbedding = %v, want %v", got, want)
		}
	}
}
