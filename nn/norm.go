package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

const normEpsilon = 1e-5

// GroupNorm normalizes x [B, ..., C] per example over all non-batch axes
// within each of groups channel groups, then applies a learnable per-channel
// "scale" (init 1) and "offset" (init 0). groups must divide C.
//
// It is computed as x·a + b with per-(example, channel) a and b, from the
// sums of x and x² (one pass each): on the Go backend every elementwise pass
// over an activation costs about as much as 10% of a convolution, and this
// form needs half the passes of (x-mean)/std·scale+offset, forward and
// backward. Var = E[x²]-E[x]² (clamped at 0) is accurate enough in float32
// unless |mean| exceeds ~1000 standard deviations.
func GroupNorm(scope *model.Scope, x *Node, groups int) *Node {
	if x.Rank() < 2 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.GroupNorm: x must be a float [B,...,C] tensor, got %s", x.Shape()))
	}
	return groupNorm(scope, x, groups, false)
}

// groupNorm is GroupNorm for x [B,...,C], or channel-major x [C,B,...] when cm.
func groupNorm(scope *model.Scope, x *Node, groups int, cm bool) *Node {
	dims := x.Shape().Dimensions
	b, c := dims[0], dims[len(dims)-1]
	if cm {
		c, b = dims[0], dims[1]
	}
	if groups < 1 || c%groups != 0 {
		panic(fmt.Sprintf("nn.GroupNorm: %d groups do not divide %d channels", groups, c))
	}
	cg := c / groups
	n := float64(x.Shape().Size() / b / groups)
	// Per-group means as [B,G,1] (NHWC) or [G,1,B] (channel-major), and the
	// per-channel shapes they broadcast to.
	var groupMean func(y *Node) *Node
	var x3 *Node
	var groupShape []int
	var bcast []int
	if cm {
		x3 = Reshape(x, c, b, -1)
		groupMean = func(y *Node) *Node {
			return InsertAxes(DivScalar(ReduceSum(Reshape(ReduceSum(y, 2), groups, cg, b), 1), n), 1)
		}
		groupShape = []int{groups, cg, 1}
		bcast = append([]int{c, b}, ones(len(dims)-2)...)
	} else {
		x3 = Reshape(x, b, -1, c)
		groupMean = func(y *Node) *Node {
			return InsertAxes(DivScalar(ReduceSum(Reshape(ReduceSum(y, 1), b, groups, cg), 2), n), -1)
		}
		groupShape = []int{1, groups, cg}
		bcast = append(append([]int{b}, ones(len(dims)-2)...), c)
	}
	mean := groupMean(x3)
	meanSq := groupMean(Square(x3))
	variance := Max(Sub(meanSq, Square(mean)), ZerosLike(mean))
	inv := Div(ScalarOne(x.Graph(), x.DType()), Sqrt(AddScalar(variance, normEpsilon)))
	scale, offset := scaleOffsetVars(scope, x, c)
	a := Mul(inv, Reshape(scale, groupShape...))             // per (example, channel)
	off := Sub(Reshape(offset, groupShape...), Mul(mean, a)) // per (example, channel)
	return Add(Mul(x, Reshape(a, bcast...)), Reshape(off, bcast...))
}

func ones(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = 1
	}
	return r
}

// LayerNorm normalizes x over its last axis, then applies a learnable
// "scale" (init 1) and "offset" (init 0) of that axis' size.
func LayerNorm(scope *model.Scope, x *Node) *Node {
	if x.Rank() < 1 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.LayerNorm: x must be a float tensor, got %s", x.Shape()))
	}
	return scaleOffset(scope, normalize(x, -1), x.Shape().Dimensions[x.Rank()-1])
}

// normalize returns (x-mean)/sqrt(var+eps) over the given axes.
func normalize(x *Node, axes ...int) *Node {
	centered := Sub(x, ReduceAndKeep(x, ReduceMean, axes...))
	variance := ReduceAndKeep(Square(centered), ReduceMean, axes...)
	// 1/sqrt on the small reduced tensor, then one multiply (Rsqrt has no
	// gradient in GoMLX v0.28.2).
	inv := Div(ScalarOne(x.Graph(), x.DType()), Sqrt(AddScalar(variance, normEpsilon)))
	return Mul(centered, inv)
}

func scaleOffset(scope *model.Scope, y *Node, n int) *Node {
	scale, offset := scaleOffsetVars(scope, y, n)
	return Add(Mul(y, ExpandLeftToRank(scale, y.Rank())), ExpandLeftToRank(offset, y.Rank()))
}

// scaleOffsetVars returns the "scale" (init 1) and "offset" (init 0) variables [n].
func scaleOffsetVars(scope *model.Scope, like *Node, n int) (scale, offset *Node) {
	g, dt := like.Graph(), like.DType()
	scale = scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Ones(g, s) }).
		VariableWithShape("scale", shapes.Make(dt, n)).NodeValue(g)
	offset = scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Zeros(g, s) }).
		VariableWithShape("offset", shapes.Make(dt, n)).NodeValue(g)
	return scale, offset
}
