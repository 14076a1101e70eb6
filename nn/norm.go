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
func GroupNorm(scope *model.Scope, x *Node, groups int) *Node {
	if x.Rank() < 2 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.GroupNorm: x must be a float [B,...,C] tensor, got %s", x.Shape()))
	}
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	if groups < 1 || c%groups != 0 {
		panic(fmt.Sprintf("nn.GroupNorm: %d groups do not divide %d channels", groups, c))
	}
	g := Reshape(x, dims[0], -1, groups, c/groups)
	g = normalize(g, 1, 3)
	y := Reshape(g, dims...)
	return scaleOffset(scope, y, c)
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
	g, dt := y.Graph(), y.DType()
	scale := scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Ones(g, s) }).
		VariableWithShape("scale", shapes.Make(dt, n)).NodeValue(g)
	offset := scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node { return Zeros(g, s) }).
		VariableWithShape("offset", shapes.Make(dt, n)).NodeValue(g)
	return Add(Mul(y, ExpandLeftToRank(scale, y.Rank())), ExpandLeftToRank(offset, y.Rank()))
}
