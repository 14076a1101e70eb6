package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// PadSpatial zero-pads x [B,H,W,C] on the spatial axes. It concatenates zero
// blocks instead of calling graph.Pad, so it is differentiable to any order
// without relying on the Pad gradient registered by this package.
func PadSpatial(x *Node, top, bottom, left, right int) *Node {
	checkImage("PadSpatial", x)
	if top < 0 || bottom < 0 || left < 0 || right < 0 {
		panic(fmt.Sprintf("nn.PadSpatial: negative padding %d,%d,%d,%d", top, bottom, left, right))
	}
	g, dt := x.Graph(), x.DType()
	pad := func(x *Node, axis, before, after int) *Node {
		if before == 0 && after == 0 {
			return x
		}
		parts := make([]*Node, 0, 3)
		d := x.Shape().Clone().Dimensions
		if before > 0 {
			d[axis] = before
			parts = append(parts, Zeros(g, shapes.Make(dt, d...)))
		}
		parts = append(parts, x)
		if after > 0 {
			d[axis] = after
			parts = append(parts, Zeros(g, shapes.Make(dt, d...)))
		}
		return Concatenate(parts, axis)
	}
	return pad(pad(x, 1, top, bottom), 2, left, right)
}

// SpaceToDepth moves each 2x2 pixel block into the channels:
// [B,H,W,C] -> [B,H/2,W/2,4C], channel index (p·2+q)·C+c for pixel (2i+p, 2j+q).
// H and W must be even.
func SpaceToDepth(x *Node) *Node {
	checkImage("SpaceToDepth", x)
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	if h%2 != 0 || w%2 != 0 {
		panic(fmt.Sprintf("nn.SpaceToDepth: H and W must be even, got %s", x.Shape()))
	}
	x = Reshape(x, b, h/2, 2, w/2, 2, c)
	x = TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	return Reshape(x, b, h/2, w/2, 4*c)
}

// DepthToSpace is the inverse of SpaceToDepth: [B,H,W,4C] -> [B,2H,2W,C].
func DepthToSpace(x *Node) *Node {
	checkImage("DepthToSpace", x)
	d := x.Shape().Dimensions
	b, h, w, c4 := d[0], d[1], d[2], d[3]
	if c4%4 != 0 {
		panic(fmt.Sprintf("nn.DepthToSpace: channels must be a multiple of 4, got %s", x.Shape()))
	}
	x = Reshape(x, b, h, w, 2, 2, c4/4)
	x = TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	return Reshape(x, b, 2*h, 2*w, c4/4)
}

// Downsample halves the spatial size, [B,H,W,C] -> [B,ceil(H/2),ceil(W/2),outChannels],
// with a trainable 2x2 stride-2 convolution (patch merging): odd sizes get a
// zero row/column, each 2x2 block moves into the channels (SpaceToDepth), and
// a 1x1 convolution mixes them. Variables "weights" [4C,outChannels], "biases".
// Cheap by design: the 3x3 convolutions around it provide the context.
func Downsample(scope *model.Scope, x *Node, outChannels int) *Node {
	checkImage("Downsample", x)
	d := x.Shape().Dimensions
	x = PadSpatial(x, 0, d[1]%2, 0, d[2]%2)
	return Dense(scope, SpaceToDepth(x), outChannels)
}

// Upsample doubles the spatial size, [B,H,W,C] -> [B,2H,2W,outChannels]: a
// nearest-neighbour 2x upsampling followed by a 3x3 convolution, computed at
// the low resolution. Each of the four output phases (2i+p, 2j+q) of
// conv3x3(nearest(x)) is a 2x2 convolution of x whose kernel sums taps of
// the 3x3 one, so the work is 4/9 of the high-resolution convolution and no
// upsampled image is ever built. Variables "weights" [3,3,C,outChannels], "biases".
func Upsample(scope *model.Scope, x *Node, outChannels int) *Node {
	checkImage("Upsample", x)
	d := x.Shape().Dimensions
	k := scope.VariableWithShape("weights", shapes.Make(x.DType(), 3, 3, d[3], outChannels)).NodeValue(x.Graph())
	return addBias(scope, upsampleConv(x, k), outChannels)
}

// phaseTaps[p] maps the 3 taps of a 3x3 kernel row onto the 2 low-resolution
// offsets seen by output phase p: phase 0 reads offsets {-1,0} (tap 0; taps
// 1+2), phase 1 reads {0,+1} (taps 0+1; tap 2).
var phaseTaps = [2][][]float64{
	{{1, 0, 0}, {0, 1, 1}},
	{{1, 1, 0}, {0, 0, 1}},
}

// upsampleConv computes conv3x3(nearest2x(x), k) without a bias.
func upsampleConv(x, k *Node) *Node {
	g, dt := x.Graph(), x.DType()
	d := x.Shape().Dimensions
	b, h, w := d[0], d[1], d[2]
	cout := k.Shape().Dimensions[3]
	phases := make([]*Node, 0, 4)
	for p := 0; p < 2; p++ {
		mp := ConvertDType(Const(g, phaseTaps[p]), dt)
		rows := Einsum("ai,ijcf->ajcf", mp, k) // [2,3,C,Cout]
		for q := 0; q < 2; q++ {
			mq := ConvertDType(Const(g, phaseTaps[q]), dt)
			kpq := Einsum("bj,ajcf->abcf", mq, rows) // [2,2,C,Cout]
			phases = append(phases, shiftConv(x, kpq, 1-p, 1-q, false))
		}
	}
	// [B,h,w,(p,q),Cout] -> [B,2h,2w,Cout]
	y := Stack(phases, 3)
	y = Reshape(y, b, h, w, 2, 2, cout)
	y = TransposeAllAxes(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, b, 2*h, 2*w, cout)
}
