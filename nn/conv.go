package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Conv2D is a trainable 2-D convolution with stride 1 and 'same' zero
// padding: x [B,H,W,C] -> [B,H,W,outChannels]. kernelSize must be odd.
// Variables: "weights" [k,k,C,outChannels] (He init) and "biases" [outChannels].
func Conv2D(scope *model.Scope, x *Node, outChannels, kernelSize int) *Node {
	if kernelSize < 1 || kernelSize%2 == 0 {
		panic(fmt.Sprintf("nn.Conv2D: kernelSize must be odd and positive, got %d", kernelSize))
	}
	checkImage("Conv2D", x)
	c := x.Shape().Dimensions[3]
	k := scope.VariableWithShape("weights", shapes.Make(x.DType(), kernelSize, kernelSize, c, outChannels)).NodeValue(x.Graph())
	return addBias(scope, ConvKernel(x, k), outChannels)
}

// ConvKernel is the stride-1 'same' convolution of x [B,H,W,C] with a given
// kernel [k,k,C,Cout] (odd k), without bias. It is the op behind Conv2D, for
// callers that build their own kernels (masked or derived ones).
func ConvKernel(x, kernel *Node) *Node {
	checkImage("ConvKernel", x)
	kd := kernel.Shape().Dimensions
	if kernel.Rank() != 4 || kd[0]%2 == 0 || kd[1]%2 == 0 || kd[2] != x.Shape().Dimensions[3] {
		panic(fmt.Sprintf("nn.ConvKernel: kernel must be [k,k,%d,Cout] with odd k, got %s (x %s)",
			x.Shape().Dimensions[3], kernel.Shape(), x.Shape()))
	}
	return shiftConv(x, kernel, kd[0]/2, kd[1]/2)
}

func checkImage(op string, x *Node) {
	if x.Rank() != 4 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.%s: x must be a float [B,H,W,C] image batch, got %s", op, x.Shape()))
	}
}

func addBias(scope *model.Scope, y *Node, n int) *Node {
	b := scope.VariableWithShape("biases", shapes.Make(y.DType(), n)).NodeValue(y.Graph())
	return Add(y, ExpandLeftToRank(b, y.Rank()))
}

// shiftConv computes out[b,i,j,:] = Σ_{di,dj} x[b, i+di-top, j+dj-left, :] · kernel[di,dj]
// (zero outside x) for a kernel [kh,kw,C,Cout], with the output the size of x.
//
// Forward, the "flat-shift im2col": x gets zr zero rows below each image and
// zc zero columns right of each row and is flattened to F [N,C]. In that
// layout a tap (di,dj) is a constant shift of the flat axis, and every read
// outside the image lands on a zero (the zero rows/columns are shared by the
// images/rows on both sides). Each tap is F between two zero blocks (a
// memcpy-speed Concatenate), the taps side by side give P [L, kh·kw·C], the
// convolution is the single matmul P·K, and one Slice drops the padding.
//
// Backward is written by hand (the default autodiff would run the Concatenate
// VJPs, i.e. element-wise Slices of the 9x larger P, which costs more than the
// convolution itself): dx is shiftConv of the gradient with the flipped,
// transposed kernel, and dK = Pᵀ·v as one matmul. Both are built from
// differentiable ops, so second-order gradients work.
func shiftConv(x, kernel *Node, top, left int) *Node {
	dims := x.Shape().Dimensions
	b, h, w, c := dims[0], dims[1], dims[2], dims[3]
	kd := kernel.Shape().Dimensions
	kh, kw, cout := kd[0], kd[1], kd[3]
	if kh == 1 && kw == 1 {
		// A 1x1 convolution is a matmul; its default gradient is matmuls too.
		y := MatMul(Reshape(x, b*h*w, c), Reshape(kernel, c, cout))
		return Reshape(y, b, h, w, cout)
	}
	l := newFlatLayout(b, h, w, kh, kw, top, left)

	var patches *Node
	fast := func() *Node {
		patches = l.patches(x)
		y := MatMul(patches, Reshape(kernel, kh*kw*c, cout))
		return l.unflatten(y)
	}
	// The gradient is taken from anchor, a node whose inputs are exactly
	// (x, kernel) and which carries the hand-written VJP. Its own value
	// (GoMLX's native convolution, slow on the Go backend) is never computed:
	// nothing consumes it, so the backend drops it as dead code.
	var anchor *Node
	decomposed := func() *Node {
		anchor = ConvGeneral(x, kernel, nhwcAxes,
			[]int{1, 1}, [][2]int{{top, kh - 1 - top}, {left, kw - 1 - left}}, nil, nil, 1, 1)
		return anchor
	}
	out, fused := InternalFusedOpCaller(fast, decomposed, true)
	setCustomVJP(anchor, func(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
		v := vjps[0]
		if !fused {
			// GOMLX_FUSION is off and the forward is the native convolution:
			// patches were never built, so build them for dK.
			patches = l.patches(x)
		}
		// dx: correlate v with the kernel flipped in space and with its
		// in/out channels swapped; the offsets mirror (top -> kh-1-top).
		flipped := TransposeAllAxes(flipSpatial(kernel), 0, 1, 3, 2)
		dx := shiftConv(v, flipped, kh-1-top, kw-1-left)
		// dK = Pᵀ·V with V the gradient placed at the output rows of P,
		// computed as (Vᵀ·P)ᵀ with Vᵀ transposed explicitly: given
		// operands that both contract their leading axis, the Go backend
		// would transpose both, and P is kh·kw·C/Cout times larger than V.
		vt := Transpose(l.flatten(v), 0, 1) // [Cout, L]
		dkt := MatMul(vt, patches)          // [Cout, kh·kw·C]
		dk := Reshape(Transpose(dkt, 0, 1), kh, kw, c, cout)
		return []*Node{dx, dk}
	})
	return out
}

// flipSpatial reverses both spatial axes of a kernel [kh,kw,...]. It is
// built from Slices and a Concatenate, not Reverse, because Reverse has no
// gradient in GoMLX v0.28.2 and the second-order gradient goes through here.
func flipSpatial(kernel *Node) *Node {
	d := kernel.Shape().Dimensions
	n := d[0] * d[1]
	flat := Reshape(kernel, append([]int{n}, d[2:]...)...)
	parts := make([]*Node, n)
	for i := range parts {
		parts[i] = Slice(flat, AxisElem(n-1-i))
	}
	return Reshape(Concatenate(parts, 0), d...)
}

var nhwcAxes = ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// flatLayout describes the flat-shift layout of one convolution.
//
// Image b, pixel (i,j) sits at flat row b·S + i·Wp + j of F, with Hp = H+zr,
// Wp = W+zc, S = Hp·Wp. P and the matmul output have L = T·S rows (T = B+m
// images); output pixel (b,i,j) is row a1 + b·S + i·Wp + j with
// a1 = zr·Wp + zc, which in the [T,Hp,Wp] view is the rectangle
// [0:B, zr:zr+H, zc:zc+W]: one Slice recovers the output.
type flatLayout struct {
	b, h, w, kh, kw, top, left int
	zr, zc, hp, wp, s, a1, t   int
}

func newFlatLayout(b, h, w, kh, kw, top, left int) flatLayout {
	l := flatLayout{b: b, h: h, w: w, kh: kh, kw: kw, top: top, left: left}
	bottom, right := kh-1-top, kw-1-left
	l.zr, l.zc = max(top, bottom), max(left, right)
	l.hp, l.wp = h+l.zr, w+l.zc
	l.s = l.hp * l.wp
	// a1 must cover the largest forward shift (bottom·Wp + right); it does,
	// since zr >= bottom and zc >= right.
	l.a1 = l.zr*l.wp + l.zc
	// The zeros after F must cover the largest backward shift.
	m := 1
	for m*l.s-l.a1 < top*l.wp+left {
		m++
	}
	l.t = b + m
	return l
}

// shift is the flat offset of tap (di,dj).
func (l flatLayout) shift(di, dj int) int { return (di-l.top)*l.wp + (dj - l.left) }

// padFlat returns x [B,H,W,C] with zr zero rows and zc zero columns added
// (bottom/right), flattened to [B·S, C].
func (l flatLayout) padFlat(x *Node) *Node {
	g, dt, c := x.Graph(), x.DType(), x.Shape().Dimensions[3]
	if l.zc > 0 {
		x = Concatenate([]*Node{x, Zeros(g, shapes.Make(dt, l.b, l.h, l.zc, c))}, 2)
	}
	if l.zr > 0 {
		x = Concatenate([]*Node{x, Zeros(g, shapes.Make(dt, l.b, l.zr, l.wp, c))}, 1)
	}
	return Reshape(x, l.b*l.s, c)
}

// patches builds P [L, kh·kw·C] for x [B,H,W,C]; columns are ordered (di,dj,c)
// like a reshaped [kh,kw,C,Cout] kernel.
func (l flatLayout) patches(x *Node) *Node {
	g, dt, c := x.Graph(), x.DType(), x.Shape().Dimensions[3]
	f := l.padFlat(x)
	total := l.t * l.s
	taps := make([]*Node, 0, l.kh*l.kw)
	for di := 0; di < l.kh; di++ {
		for dj := 0; dj < l.kw; dj++ {
			// Row u of the tap holds F[u - a1 + shift].
			before := l.a1 - l.shift(di, dj)
			after := total - before - l.b*l.s
			parts := make([]*Node, 0, 3)
			if before > 0 {
				parts = append(parts, Zeros(g, shapes.Make(dt, before, c)))
			}
			parts = append(parts, f)
			if after > 0 {
				parts = append(parts, Zeros(g, shapes.Make(dt, after, c)))
			}
			taps = append(taps, Concatenate(parts, 0))
		}
	}
	return Concatenate(taps, 1)
}

// unflatten takes y [L, Cout] (rows as in P) to the output [B,H,W,Cout].
func (l flatLayout) unflatten(y *Node) *Node {
	cout := y.Shape().Dimensions[1]
	y = Reshape(y, l.t, l.hp, l.wp, cout)
	return Slice(y, AxisRange(0, l.b), AxisRange(l.zr, l.zr+l.h), AxisRange(l.zc, l.zc+l.w), AxisRange())
}

// flatten is unflatten's adjoint: v [B,H,W,Cout] placed at the output rows of
// an otherwise zero [L, Cout].
func (l flatLayout) flatten(v *Node) *Node {
	g, dt, cout := v.Graph(), v.DType(), v.Shape().Dimensions[3]
	if l.zc > 0 {
		v = Concatenate([]*Node{Zeros(g, shapes.Make(dt, l.b, l.h, l.zc, cout)), v}, 2)
	}
	if l.zr > 0 {
		v = Concatenate([]*Node{Zeros(g, shapes.Make(dt, l.b, l.zr, l.wp, cout)), v}, 1)
	}
	v = Concatenate([]*Node{v, Zeros(g, shapes.Make(dt, l.t-l.b, l.hp, l.wp, cout))}, 0)
	return Reshape(v, l.t*l.s, cout)
}
