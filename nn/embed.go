package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// TimeScale multiplies t in [0,1] before the sinusoids, so that the
// frequencies of TimeEmbedding match the usual 0..1000 step range of DDPM.
const TimeScale = 1000.0

// TimeEmbedding is the sinusoidal embedding of t [B] (floats in [0,1]):
// [sin(s·t·f_0..f_{h-1}), cos(s·t·f_0..f_{h-1})] with s = TimeScale,
// f_i = 10000^(-i/h), h = dim/2; -> [B,dim] in t's dtype (a zero column
// pads odd dim). It has no variables.
func TimeEmbedding(t *Node, dim int) *Node {
	if t.Rank() != 1 || !t.DType().IsFloat() {
		panic(fmt.Sprintf("nn.TimeEmbedding: t must be a float [B] vector, got %s", t.Shape()))
	}
	if dim < 2 {
		panic(fmt.Sprintf("nn.TimeEmbedding: dim must be >= 2, got %d", dim))
	}
	half := dim / 2
	freqs := make([]float64, half)
	for i := range freqs {
		freqs[i] = TimeScale * math.Exp(-math.Log(10000)*float64(i)/float64(half))
	}
	f := ConvertDType(Const(t.Graph(), freqs), t.DType())
	args := Mul(InsertAxes(t, -1), InsertAxes(f, 0)) // [B, half]
	parts := []*Node{Sin(args), Cos(args)}
	if dim%2 == 1 {
		parts = append(parts, Zeros(t.Graph(), shapes.Make(t.DType(), t.Shape().Dimensions[0], 1)))
	}
	return Concatenate(parts, -1)
}

// NullClass is the label reserved for "no class" in classifier-free
// guidance: labels run over 0..numClasses-1 and NullClass(numClasses).
func NullClass(numClasses int) int { return numClasses }

// ClassEmbedding maps labels [B] (int32, 0..numClasses, numClasses being
// NullClass) to learned vectors [B,dim] (float32). Variable "embeddings"
// [numClasses+1, dim]. A label outside that range embeds to zeros.
func ClassEmbedding(scope *model.Scope, labels *Node, numClasses, dim int) *Node {
	return ClassEmbeddingAs(scope, labels, numClasses, dim, dtypes.Float32)
}

// ClassEmbeddingAs is ClassEmbedding with variables and output in dtype.
func ClassEmbeddingAs(scope *model.Scope, labels *Node, numClasses, dim int, dtype dtypes.DType) *Node {
	if labels.Rank() != 1 || !labels.DType().IsInt() {
		panic(fmt.Sprintf("nn.ClassEmbedding: labels must be an int [B] vector, got %s", labels.Shape()))
	}
	if numClasses < 1 {
		panic(fmt.Sprintf("nn.ClassEmbedding: numClasses must be >= 1, got %d", numClasses))
	}
	n := numClasses + 1
	// Unit-variance init (not He): these vectors are added to the time
	// embedding, whose entries are of order 1.
	table := scope.WithInitializer(func(g *Graph, s shapes.Shape) *Node {
		return scope.RandomNormal(g, s)
	}).VariableWithShape("embeddings", shapes.Make(dtype, n, dim)).NodeValue(labels.Graph())
	// One-hot matmul rather than Gather: differentiable to any order and,
	// at these sizes, as fast.
	return MatMul(OneHot(labels, n, dtype), table)
}
