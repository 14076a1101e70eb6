package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Dense is an affine layer on the last axis: x [..., in] -> [..., out].
// Variables: "weights" [in,out] (He init) and "biases" [out] (zeros).
func Dense(scope *model.Scope, x *Node, out int) *Node {
	if x.Rank() < 1 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.Dense: x must be a float tensor [..., in], got %s", x.Shape()))
	}
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	w := scope.VariableWithShape("weights", shapes.Make(x.DType(), in, out)).NodeValue(x.Graph())
	// Flatten to 2-D: a plain [N,in]·[in,out] is the matmul the Go backend
	// runs fastest, and its gradient needs no transposes of x.
	y := MatMul(Reshape(x, -1, in), w)
	y = addBias(scope, y, out)
	outDims := append(append([]int(nil), dims[:len(dims)-1]...), out)
	return Reshape(y, outDims...)
}

// MLP is Dense layers with the activation (Act) between them:
// x [..., in] -> hidden[0] -> ... -> out. Sub-scopes "layer_0", "layer_1", ...
func MLP(scope *model.Scope, x *Node, hidden []int, out int) *Node {
	for i, h := range hidden {
		x = Act(Dense(scope.In("layer_%d", i), x, h))
	}
	return Dense(scope.In("layer_%d", len(hidden)), x, out)
}

// Act is the default activation of genmod's blocks: SiLU, x·σ(x).
func Act(x *Node) *Node { return SiLU.Apply(x) }

// Activation selects the nonlinearity of a network.
type Activation int

const (
	// SiLU is x·σ(x), smooth; the usual choice for diffusion networks.
	SiLU Activation = iota
	// ReLU is max(x,0). On the Go backend its forward+backward costs about a
	// quarter of SiLU's (σ needs an exp per element), which is ~5-10% of a
	// U-Net training step.
	ReLU
)

// Apply applies the activation.
func (a Activation) Apply(x *Node) *Node {
	switch a {
	case SiLU:
		return Mul(x, Logistic(x))
	case ReLU:
		return Max(x, ZerosLike(x))
	}
	panic(fmt.Sprintf("nn: unknown Activation %d", int(a)))
}

// String names the activation.
func (a Activation) String() string {
	switch a {
	case SiLU:
		return "silu"
	case ReLU:
		return "relu"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}
