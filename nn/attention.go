package nn

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// SelfAttention is multi-head scaled dot-product self-attention over
// x [B,L,D] (no mask), with query/key/value projections and an output
// projection: -> [B,L,D]. heads must divide D. Sub-scopes "query", "key",
// "value", "output".
func SelfAttention(scope *model.Scope, x *Node, heads int) *Node {
	if x.Rank() != 3 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.SelfAttention: x must be a float [B,L,D] tensor, got %s", x.Shape()))
	}
	dims := x.Shape().Dimensions
	b, l, d := dims[0], dims[1], dims[2]
	if heads < 1 || d%heads != 0 {
		panic(fmt.Sprintf("nn.SelfAttention: %d heads do not divide D=%d", heads, d))
	}
	dh := d / heads
	split := func(y *Node) *Node { return Reshape(y, b, l, heads, dh) }
	q := split(Dense(scope.In("query"), x, d))
	k := split(Dense(scope.In("key"), x, d))
	v := split(Dense(scope.In("value"), x, d))
	scores := MulScalar(Einsum("blhd,bmhd->bhlm", q, k), 1/math.Sqrt(float64(dh)))
	weights := Softmax(scores, -1)
	out := Reshape(Einsum("bhlm,bmhd->blhd", weights, v), b, l, d)
	return Dense(scope.In("output"), out, d)
}
