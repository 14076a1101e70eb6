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
	return conv2D(scope, x, outChannels, kernelSize, false, true)
}

// conv2D is Conv2D in either layout, with or without the bias.
func conv2D(scope *model.Scope, x *Node, outChannels, kernelSize int, cm, bias bool) *Node {
	c := x.Shape().Dimensions[3]
	if cm {
		c = x.Shape().Dimensions[0]
	}
	k := scope.VariableWithShape("weights", shapes.Make(x.DType(), kernelSize, kernelSize, c, outChannels)).NodeValue(x.Graph())
	y := shiftConv(x, k, kernelSize/2, kernelSize/2, cm)
	switch {
	case !bias:
		return y
	case cm:
		return addBiasCM(scope, y, outChannels)
	}
	return addBias(scope, y, outChannels)
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
	return shiftConv(x, kernel, kd[0]/2, kd[1]/2, false)
}

// ConvKernelOffset is the stride-1 convolution of x [B,H,W,C] with a kernel
// [kh,kw,C,Cout] of any size, anchored so that
// out[b,i,j] = Σ_{di,dj} x[b, i+di-top, j+dj-left] · kernel[di,dj] (zero
// outside x); the output is the size of x. ConvKernel is the centred case
// (top = kh/2, left = kw/2); other anchors give causal convolutions such as
// PixelCNN's vertical and horizontal stacks.
func ConvKernelOffset(x, kernel *Node, top, left int) *Node {
	checkImage("ConvKernelOffset", x)
	kd := kernel.Shape().Dimensions
	if kernel.Rank() != 4 || kd[2] != x.Shape().Dimensions[3] || top < 0 || top >= kd[0] || left < 0 || left >= kd[1] {
		panic(fmt.Sprintf("nn.ConvKernelOffset: kernel must be [kh,kw,%d,Cout] with 0 <= top < kh, 0 <= left < kw; got %s, top=%d, left=%d",
			x.Shape().Dimensions[3], kernel.Shape(), top, left))
	}
	return shiftConv(x, kernel, top, left, false)
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

// addBiasCM adds the "biases" [n] variable to channel-major y [n,B,H,W].
func addBiasCM(scope *model.Scope, y *Node, n int) *Node {
	b := scope.VariableWithShape("biases", shapes.Make(y.DType(), n)).NodeValue(y.Graph())
	return Add(y, Reshape(b, n, 1, 1, 1))
}

// shiftConv computes out[b,i,j,:] = Σ_{di,dj} x[b, i+di-top, j+dj-left, :] · kernel[di,dj]
// (zero outside x) for a kernel [kh,kw,C,Cout], with the output the size of
// x. x is NHWC [B,H,W,C], or channel-major [C,B,H,W] when cm is set (then
// the output is [Cout,B,H,W]).
//
// Forward, the "flat-shift im2col": x gets zr zero rows below each image and
// zc zero columns right of each row and is flattened to F (N positions). In
// that layout a tap (di,dj) is a constant shift of the flat axis, and every
// read outside the image lands on a zero (the zero rows/columns are shared by
// the images/rows on both sides). Each tap is F between two zero blocks (a
// memcpy-speed Concatenate); the taps together form the patch matrix P
// (L positions by kh·kw·C), the convolution is the single matmul of P with
// the kernel, and one Slice drops the padding positions.
//
// Backward is written by hand (the default autodiff would run the Concatenate
// VJPs, i.e. element-wise Slices of the 9x larger P, which costs more than the
// convolution itself): dx is shiftConv of the gradient with the flipped,
// transposed kernel, and dK = Pᵀ·v as one matmul. Both are built from
// differentiable ops, so second-order gradients work.
//
// The channel-major layout is faster (all copies are large blocks, the
// matmuls need no transposes) and is what the UNet uses inside.
func shiftConv(x, kernel *Node, top, left int, cm bool) *Node {
	l := newFlatLayout(x, kernel, top, left, cm)
	if l.kh == 1 && l.kw == 1 {
		// A 1x1 convolution is a matmul; its default gradient is matmuls too.
		if cm {
			kt := Transpose(Reshape(kernel, l.c, l.cout), 0, 1)
			return Reshape(MatMul(kt, Reshape(x, l.c, -1)), l.cout, l.b, l.h, l.w)
		}
		y := MatMul(Reshape(x, -1, l.c), Reshape(kernel, l.c, l.cout))
		return Reshape(y, l.b, l.h, l.w, l.cout)
	}

	var patches *Node
	fast := func() *Node {
		patches = l.patches(x)
		return l.unflatten(l.apply(patches, kernel))
	}
	// The gradient is taken from anchor, a node whose inputs are exactly
	// (x, kernel) and which carries the hand-written VJP. Its own value
	// (GoMLX's native convolution, slow on the Go backend) is never computed:
	// nothing consumes it, so the backend drops it as dead code.
	var anchor *Node
	decomposed := func() *Node {
		axes := nhwcAxes
		if cm {
			axes = cmAxes
		}
		anchor = ConvGeneral(x, kernel, axes,
			[]int{1, 1}, [][2]int{{top, l.kh - 1 - top}, {left, l.kw - 1 - left}}, nil, nil, 1, 1)
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
		dx := shiftConv(v, flipped, l.kh-1-top, l.kw-1-left, cm)
		return []*Node{dx, l.kernelGrad(patches, v)}
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

var (
	nhwcAxes = ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
	}
	cmAxes = ConvolveAxesConfig{
		InputBatch: 1, InputChannels: 0, InputSpatial: []int{2, 3},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 1, OutputChannels: 0, OutputSpatial: []int{2, 3},
	}
)

// flatLayout describes the flat-shift layout of one convolution.
//
// Image b, pixel (i,j) sits at flat position b·S + i·Wp + j of F, with
// Hp = H+zr, Wp = W+zc, S = Hp·Wp. P and the matmul output span L = T·S
// positions (T = B+m images); output pixel (b,i,j) is position
// a1 + b·S + i·Wp + j with a1 = zr·Wp + zc, which in the [T,Hp,Wp] view is
// the rectangle [0:B, zr:zr+H, zc:zc+W]: one Slice recovers the output.
//
// NHWC: F is [N,C], P is [L, kh·kw·C] with columns (di,dj,c).
// Channel-major: F is [C,N], P is [C·kh·kw, L] with rows (c,di,dj), built by
// a single Concatenate of large blocks.
type flatLayout struct {
	cm                                  bool
	b, h, w, c, cout, kh, kw, top, left int
	zr, zc, hp, wp, s, a1, t            int
}

func newFlatLayout(x, kernel *Node, top, left int, cm bool) flatLayout {
	d := x.Shape().Dimensions
	kd := kernel.Shape().Dimensions
	l := flatLayout{cm: cm, kh: kd[0], kw: kd[1], cout: kd[3], top: top, left: left}
	if cm {
		l.c, l.b, l.h, l.w = d[0], d[1], d[2], d[3]
	} else {
		l.b, l.h, l.w, l.c = d[0], d[1], d[2], d[3]
	}
	bottom, right := l.kh-1-top, l.kw-1-left
	l.zr, l.zc = max(top, bottom), max(left, right)
	l.hp, l.wp = l.h+l.zr, l.w+l.zc
	l.s = l.hp * l.wp
	// a1 must cover the largest forward shift (bottom·Wp + right); it does,
	// since zr >= bottom and zc >= right.
	l.a1 = l.zr*l.wp + l.zc
	// The zeros after F must cover the largest backward shift.
	m := 1
	for m*l.s-l.a1 < top*l.wp+left {
		m++
	}
	l.t = l.b + m
	return l
}

// shift is the flat offset of tap (di,dj).
func (l flatLayout) shift(di, dj int) int { return (di-l.top)*l.wp + (dj - l.left) }

// spatialAxes are the H and W axes of an activation.
func (l flatLayout) spatialAxes() (int, int) {
	if l.cm {
		return 2, 3
	}
	return 1, 2
}

// padBlock returns zeros shaped like x with dimension size on axis.
func padBlock(x *Node, axis, size int) *Node {
	d := x.Shape().Clone().Dimensions
	d[axis] = size
	return Zeros(x.Graph(), shapes.Make(x.DType(), d...))
}

// padFlat adds zr zero rows and zc zero columns (bottom/right) to x and
// flattens it to F.
func (l flatLayout) padFlat(x *Node) *Node {
	ah, aw := l.spatialAxes()
	if l.zc > 0 {
		x = Concatenate([]*Node{x, padBlock(x, aw, l.zc)}, aw)
	}
	if l.zr > 0 {
		x = Concatenate([]*Node{x, padBlock(x, ah, l.zr)}, ah)
	}
	if l.cm {
		return Reshape(x, l.c, l.b*l.s)
	}
	return Reshape(x, l.b*l.s, l.c)
}

// patches builds P for x.
func (l flatLayout) patches(x *Node) *Node {
	f := l.padFlat(x)
	axis := 0
	if l.cm {
		axis = 1
	}
	total := l.t * l.s
	var all []*Node // channel-major: every tap's pieces, in one Concatenate
	taps := make([]*Node, 0, l.kh*l.kw)
	for di := 0; di < l.kh; di++ {
		for dj := 0; dj < l.kw; dj++ {
			// Position u of the tap holds F[u - a1 + shift].
			before := l.a1 - l.shift(di, dj)
			after := total - before - l.b*l.s
			parts := make([]*Node, 0, 3)
			if before > 0 {
				parts = append(parts, padBlock(f, axis, before))
			}
			parts = append(parts, f)
			if after > 0 {
				parts = append(parts, padBlock(f, axis, after))
			}
			if l.cm {
				all = append(all, parts...)
			} else {
				taps = append(taps, Concatenate(parts, 0))
			}
		}
	}
	if l.cm {
		return Reshape(Concatenate(all, 1), l.c*l.kh*l.kw, total)
	}
	return Concatenate(taps, 1)
}

// apply multiplies the patches by the kernel: [L,Cout] (NHWC) or [Cout,L].
func (l flatLayout) apply(patches, kernel *Node) *Node {
	if l.cm {
		kt := Reshape(TransposeAllAxes(kernel, 3, 2, 0, 1), l.cout, l.c*l.kh*l.kw)
		return MatMul(kt, patches)
	}
	return MatMul(patches, Reshape(kernel, l.kh*l.kw*l.c, l.cout))
}

// kernelGrad is dK = Pᵀ·V, V being v placed at the output positions.
func (l flatLayout) kernelGrad(patches, v *Node) *Node {
	vf := l.flatten(v)
	if l.cm {
		// [Cout,L]·[C·kh·kw,L]ᵀ: both contract their last axis, a layout
		// the Go backend multiplies without transposing anything.
		dkt := DotGeneral(vf, []int{1}, nil, patches, []int{1}, nil) // [Cout, C·kh·kw]
		return TransposeAllAxes(Reshape(dkt, l.cout, l.c, l.kh, l.kw), 2, 3, 1, 0)
	}
	// Vᵀ·P with Vᵀ transposed explicitly: given operands that both contract
	// their leading axis, the Go backend would transpose both, and P is
	// kh·kw·C/Cout times larger than V.
	dkt := MatMul(Transpose(vf, 0, 1), patches) // [Cout, kh·kw·C]
	return Reshape(Transpose(dkt, 0, 1), l.kh, l.kw, l.c, l.cout)
}

// unflatten takes the matmul output (positions as in P) to the output image.
func (l flatLayout) unflatten(y *Node) *Node {
	if l.cm {
		y = Reshape(y, l.cout, l.t, l.hp, l.wp)
		return Slice(y, AxisRange(), AxisRange(0, l.b), AxisRange(l.zr, l.zr+l.h), AxisRange(l.zc, l.zc+l.w))
	}
	y = Reshape(y, l.t, l.hp, l.wp, l.cout)
	return Slice(y, AxisRange(0, l.b), AxisRange(l.zr, l.zr+l.h), AxisRange(l.zc, l.zc+l.w), AxisRange())
}

// flatten is unflatten's adjoint: v placed at the output positions of an
// otherwise zero matmul output.
func (l flatLayout) flatten(v *Node) *Node {
	ah, aw := l.spatialAxes()
	ab := 0
	if l.cm {
		ab = 1
	}
	if l.zc > 0 {
		v = Concatenate([]*Node{padBlock(v, aw, l.zc), v}, aw)
	}
	if l.zr > 0 {
		v = Concatenate([]*Node{padBlock(v, ah, l.zr), v}, ah)
	}
	v = Concatenate([]*Node{v, padBlock(v, ab, l.t-l.b)}, ab)
	if l.cm {
		return Reshape(v, l.cout, l.t*l.s)
	}
	return Reshape(v, l.t*l.s, l.cout)
}
