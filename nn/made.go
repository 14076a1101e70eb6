package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// MADE connectivity (Germain et al. 2015): every unit gets a degree; a unit
// of degree m may read inputs of degree ≤ m, and output d (degree deg(d))
// only units of degree < deg(d), so output d depends on the inputs that
// come before d in the order and nothing else. Flows (MAF) and the
// autoregressive family build their masks here.

// MADEDegrees are the degrees of one MADE: Inputs[i] ∈ 1..D is input i's
// place in the autoregressive order (a permutation of 1..D), Hidden[l][k]
// ∈ 1..D−1 the degree of hidden unit k of layer l.
type MADEDegrees struct {
	Inputs []int
	Hidden [][]int
}

// NaturalMADEDegrees is the order 1..D with hidden unit k of every layer of
// degree 1 + k mod (D−1) (1 when D = 1): the deterministic MADE.
func NaturalMADEDegrees(d int, widths []int) MADEDegrees {
	deg := MADEDegrees{Inputs: make([]int, d)}
	for i := range deg.Inputs {
		deg.Inputs[i] = i + 1
	}
	span := max(d-1, 1)
	for _, h := range widths {
		cur := make([]int, h)
		for k := range cur {
			cur[k] = 1 + k%span
		}
		deg.Hidden = append(deg.Hidden, cur)
	}
	return deg
}

// RandomMADEDegrees draws an order-agnostic, connectivity-agnostic MADE:
// a uniformly random order of the D inputs and, per layer, hidden degrees
// uniform in [min degree of the layer below, D−1] (Germain et al. §3.2,
// so no unit is left without inputs).
func RandomMADEDegrees(d int, widths []int, r *rand.Rand) MADEDegrees {
	deg := MADEDegrees{Inputs: make([]int, d)}
	for i, p := range r.Perm(d) {
		deg.Inputs[i] = p + 1
	}
	lo := 1
	for _, h := range widths {
		cur := make([]int, h)
		hi := max(d-1, 1)
		next := hi
		for k := range cur {
			cur[k] = lo + r.IntN(hi-lo+1)
			next = min(next, cur[k])
		}
		deg.Hidden = append(deg.Hidden, cur)
		lo = next
	}
	return deg
}

// Order returns the inputs in autoregressive order: Order()[t] is the
// input generated at step t.
func (m MADEDegrees) Order() []int {
	out := make([]int, len(m.Inputs))
	for i, p := range m.Inputs {
		out[p-1] = i
	}
	return out
}

// Masks builds the [in][out] masks of the MADE's layers, 1 where a
// connection is allowed: one per hidden layer, then the output layer with
// outPer blocks of D outputs (output o has the degree of input o mod D;
// e.g. 2 for MAF's μ and α).
func (m MADEDegrees) Masks(outPer int) [][][]float64 {
	var masks [][][]float64
	prev := m.Inputs
	for _, cur := range m.Hidden {
		masks = append(masks, connect(prev, cur, func(in, out int) bool { return out >= in }))
		prev = cur
	}
	d := len(m.Inputs)
	out := make([]int, outPer*d)
	for o := range out {
		out[o] = m.Inputs[o%d]
	}
	return append(masks, connect(prev, out, func(in, out int) bool { return out > in }))
}

func connect(from, to []int, ok func(in, out int) bool) [][]float64 {
	m := make([][]float64, len(from))
	for i, a := range from {
		m[i] = make([]float64, len(to))
		for k, b := range to {
			if ok(a, b) {
				m[i][k] = 1
			}
		}
	}
	return m
}

// MaskedDense is x·(W⊙mask) + b for x [B,in], with variables "weights"
// [in,out] and "biases" [out]; mask is [in][out] (see MADEDegrees.Masks).
func MaskedDense(scope *model.Scope, x *Node, mask [][]float64) *Node {
	return MaskedDenseNode(scope, x, ConvertDType(Const(x.Graph(), mask), x.DType()))
}

// MaskedDenseNode is MaskedDense with the mask [in,out] given as a node
// (e.g. one of several masks chosen in the graph).
func MaskedDenseNode(scope *model.Scope, x, mask *Node) *Node {
	g, dt := x.Graph(), x.DType()
	md := mask.Shape().Dimensions
	if x.Rank() != 2 || mask.Rank() != 2 || md[0] != x.Shape().Dimensions[1] {
		panic(fmt.Sprintf("nn.MaskedDense: x must be [B,in] and the mask [in,out], got %s and %s", x.Shape(), mask.Shape()))
	}
	w := scope.VariableWithShape("weights", shapes.Make(dt, md[0], md[1])).NodeValue(g)
	b := scope.VariableWithShape("biases", shapes.Make(dt, md[1])).NodeValue(g)
	return Add(MatMul(x, Mul(w, mask)), InsertAxes(b, 0))
}
