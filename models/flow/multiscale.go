package flow

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// pass holds the options of one traversal of a flow.
type pass struct {
	// acc is the dtype the per-layer log-dets are summed in; InvalidDType
	// keeps the input's. Exact log p(x) is summed in float64: a 784-pixel
	// image has log p of order 10³, where float32 keeps only ~1e-4.
	acc dtypes.DType
	// rec, when set, sees every layer's output and log-det (diagnostics).
	rec func(name string, out, logdet *Node)
}

func (p pass) zeros(x *Node) *Node {
	dt := p.acc
	if dt == dtypes.InvalidDType {
		dt = x.DType()
	}
	return Zeros(x.Graph(), shapes.Make(dt, x.Shape().Dimensions[0]))
}

func (p pass) add(total, ld *Node) *Node {
	return Add(total, ConvertDType(ld, total.DType()))
}

func (p pass) record(name string, l Layer, out, ld *Node) {
	if p.rec != nil {
		p.rec(fmt.Sprintf("%s (%T)", name, l), out, ld)
	}
}

// arch is a flow architecture: a bijection between data x [B, shape...] and
// a flat latent z [B, D] with a standard-normal prior.
type arch interface {
	// encode maps data to z and returns log|det ∂z/∂x| [B].
	encode(scope *model.Scope, x *Node, p pass) (z, logdet *Node)
	// decode maps z back to data.
	decode(scope *model.Scope, z *Node, p pass) *Node
}

func (f Flow) encode(scope *model.Scope, x *Node, p pass) (*Node, *Node) {
	z, total := x, p.zeros(x)
	for i := len(f.Layers) - 1; i >= 0; i-- {
		var ld *Node
		name := fmt.Sprintf("layer_%d", i)
		z, ld = f.Layers[i].Inverse(scope.At("layer_%d", i), z)
		p.record(name, f.Layers[i], z, ld)
		total = p.add(total, ld)
	}
	return z, total
}

func (f Flow) decode(scope *model.Scope, z *Node, p pass) *Node {
	for i, l := range f.Layers {
		var ld *Node
		name := fmt.Sprintf("layer_%d", i)
		z, ld = l.Forward(scope.At("layer_%d", i), z)
		p.record(name, l, z, ld)
	}
	return z
}

// Level is one scale of a MultiScale flow: Layers in the data→noise order,
// then, if Split, half of the channels are factored out (they become part
// of z) and the other half goes on to the next level.
type Level struct {
	Layers []Layer
	Split  bool
}

// MultiScale is the multi-scale architecture of RealNVP (Dinh et al. 2017,
// section 3.6) and Glow for images of Shape [H,W,C]. Unlike Flow, its
// levels and their layers are listed in the data→noise order, as in the
// papers: level i runs its layers on h (Squeeze2x2 among them halves H and W
// and quadruples C), then factors out channels [C/2, C) of h into z and
// keeps [0, C/2). The prior of every factored-out part is N(0, I), and z is
// the concatenation of the flattened parts, level by level, then the last
// level's output. Level i keeps its variables under "level_i/layer_j".
type MultiScale struct {
	Shape  []int
	Levels []Level
}

// outShapes returns the per-example shape after each level's layers (before
// its split), checking that every squeeze and split is possible.
func (m MultiScale) outShapes() ([][]int, error) {
	if len(m.Shape) != 3 {
		return nil, fmt.Errorf("a multi-scale flow needs images [H,W,C], got shape %v", m.Shape)
	}
	if len(m.Levels) == 0 {
		return nil, fmt.Errorf("a multi-scale flow needs at least one level")
	}
	cur := append([]int(nil), m.Shape...)
	var out [][]int
	for i, lv := range m.Levels {
		for _, l := range lv.Layers {
			if _, ok := l.(Squeeze2x2); ok {
				if cur[0]%2 != 0 || cur[1]%2 != 0 {
					return nil, fmt.Errorf("level %d squeezes 2x2, but its input is %dx%d (H and W must be even; image flows need sides divisible by 2 per squeeze)", i, cur[0], cur[1])
				}
				cur = []int{cur[0] / 2, cur[1] / 2, cur[2] * 4}
			}
		}
		out = append(out, append([]int(nil), cur...))
		if lv.Split {
			if i == len(m.Levels)-1 {
				return nil, fmt.Errorf("the last level cannot factor out channels")
			}
			if cur[2] < 2 || cur[2]%2 != 0 {
				return nil, fmt.Errorf("level %d factors out half of %d channels (needs an even number)", i, cur[2])
			}
			cur[2] /= 2
		}
	}
	return out, nil
}

func prod(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

func (m MultiScale) mustShapes() [][]int {
	s, err := m.outShapes()
	if err != nil {
		panic("flow.MultiScale: " + err.Error())
	}
	return s
}

func (m MultiScale) encode(scope *model.Scope, x *Node, p pass) (*Node, *Node) {
	m.mustShapes()
	b := x.Shape().Dimensions[0]
	h := Reshape(x, append([]int{b}, m.Shape...)...)
	total := p.zeros(x)
	var zs []*Node
	for i, lv := range m.Levels {
		s := scope.At("level_%d", i)
		for j, l := range lv.Layers {
			var ld *Node
			h, ld = l.Inverse(s.At("layer_%d", j), h)
			p.record(fmt.Sprintf("level_%d/layer_%d", i, j), l, h, ld)
			total = p.add(total, ld)
		}
		if lv.Split {
			c := lastDim(h)
			zs = append(zs, Reshape(sliceLast(h, c/2, c), b, -1))
			h = sliceLast(h, 0, c/2)
		}
	}
	zs = append(zs, Reshape(h, b, -1))
	if len(zs) == 1 {
		return zs[0], total
	}
	return Concatenate(zs, 1), total
}

func (m MultiScale) decode(scope *model.Scope, z *Node, p pass) *Node {
	outs := m.mustShapes()
	b := z.Shape().Dimensions[0]
	// Offsets of the parts of z, in encode's order.
	offs := make([]int, len(m.Levels)+1)
	for i, lv := range m.Levels {
		offs[i+1] = offs[i]
		if lv.Split {
			offs[i+1] += prod(outs[i]) / 2
		}
	}
	last := len(m.Levels) - 1
	part := func(lo, hi int, dims []int) *Node {
		return Reshape(Slice(z, AxisRange(), AxisRange(lo, hi)), append([]int{b}, dims...)...)
	}
	h := part(offs[last], offs[last]+prod(outs[last]), outs[last])
	for i := last; i >= 0; i-- {
		lv := m.Levels[i]
		if lv.Split {
			o := outs[i]
			half := []int{o[0], o[1], o[2] / 2}
			h = Concatenate([]*Node{h, part(offs[i], offs[i+1], half)}, 3)
		}
		s := scope.At("level_%d", i)
		for j := len(lv.Layers) - 1; j >= 0; j-- {
			var ld *Node
			h, ld = lv.Layers[j].Forward(s.At("layer_%d", j), h)
			p.record(fmt.Sprintf("level_%d/layer_%d", i, j), lv.Layers[j], h, ld)
		}
	}
	return h
}

// ---------------------------------------------------------------------------
// The two image architectures.

// DefaultLevels is the number of scales of the image flows (fewer when the
// image cannot be squeezed that often).
const DefaultLevels = 2

// RealNVPImage is RealNVP's multi-scale flow (Dinh et al. 2017, section
// 4.1): each level but the last runs k checkerboard couplings, a squeeze,
// k channel couplings, and factors out half the channels; the last level
// runs k+1 checkerboard couplings. Parities alternate. widths[i] is the
// coupling nets' width at level i. levels−1 squeezes: H and W must be
// divisible by 2^(levels−1). Every coupling starts at the identity.
func RealNVPImage(shape []int, levels, k int, widths []int, initStd float64) MultiScale {
	m := MultiScale{Shape: append([]int(nil), shape...)}
	for i := range levels {
		w := widths[min(i, len(widths)-1)]
		var lv Level
		n := k
		if i == levels-1 {
			n = k + 1
		}
		for j := range n {
			lv.Layers = append(lv.Layers, ConvCoupling{Mask: MaskCheckerboard, Parity: j, Hidden: w, InitStd: initStd})
		}
		if i < levels-1 {
			lv.Layers = append(lv.Layers, Squeeze2x2{})
			for j := range k {
				lv.Layers = append(lv.Layers, ConvCoupling{Mask: MaskChannel, Parity: j, Hidden: w, InitStd: initStd})
			}
			lv.Split = true
		}
		m.Levels = append(m.Levels, lv)
	}
	return m
}

// GlowImage is Glow's multi-scale flow (Kingma & Dhariwal 2018, figure 2):
// each level squeezes, runs k steps of ActNorm → invertible 1x1 conv →
// affine coupling (channel mask, alternating halves), and all but the last
// factor out half the channels. levels squeezes: H and W must be divisible
// by 2^levels. The 1x1 convs start as random rotations drawn from fixed
// seeds.
func GlowImage(shape []int, levels, k int, widths []int, initStd float64) MultiScale {
	m := MultiScale{Shape: append([]int(nil), shape...)}
	for i := range levels {
		w := widths[min(i, len(widths)-1)]
		lv := Level{Layers: []Layer{Squeeze2x2{}}, Split: i < levels-1}
		for j := range k {
			lv.Layers = append(lv.Layers,
				ActNorm{},
				InvConv1x1{Seed: uint64(1000*(i+1) + j)},
				ConvCoupling{Mask: MaskChannel, Parity: j, Hidden: w, InitStd: initStd})
		}
		m.Levels = append(m.Levels, lv)
	}
	return m
}

// maxSqueezes is how many times an H×W image can be squeezed 2x2.
func maxSqueezes(h, w int) int {
	n := 0
	for h%2 == 0 && w%2 == 0 && h > 1 && w > 1 {
		h, w, n = h/2, w/2, n+1
	}
	return n
}
