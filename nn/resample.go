package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Internally, images are NHWC [B,H,W,C] or, with cm set, channel-major
// [C,B,H,W]; the U-Net runs channel-major because its convolutions are
// faster that way (see shiftConv). Variables have the same shapes and
// meaning in both layouts.

// spatialAxes returns the H and W axes of an image in the layout.
func spatialAxes(cm bool) (int, int) {
	if cm {
		return 2, 3
	}
	return 1, 2
}

// PadSpatial zero-pads x [B,H,W,C] on the spatial axes. It concatenates zero
// blocks instead of calling graph.Pad, so it is differentiable to any order
// without relying on the Pad gradient registered by this package.
func PadSpatial(x *Node, top, bottom, left, right int) *Node {
	checkImage("PadSpatial", x)
	if top < 0 || bottom < 0 || left < 0 || right < 0 {
		panic(fmt.Sprintf("nn.PadSpatial: negative padding %d,%d,%d,%d", top, bottom, left, right))
	}
	return padSpatial(x, top, bottom, left, right, false)
}

func padSpatial(x *Node, top, bottom, left, right int, cm bool) *Node {
	pad := func(x *Node, axis, before, after int) *Node {
		if before == 0 && after == 0 {
			return x
		}
		parts := make([]*Node, 0, 3)
		if before > 0 {
			parts = append(parts, padBlock(x, axis, before))
		}
		parts = append(parts, x)
		if after > 0 {
			parts = append(parts, padBlock(x, axis, after))
		}
		return Concatenate(parts, axis)
	}
	ah, aw := spatialAxes(cm)
	return pad(pad(x, ah, top, bottom), aw, left, right)
}

// SpaceToDepth moves each 2x2 pixel block into the channels:
// [B,H,W,C] -> [B,H/2,W/2,4C], channel index (p·2+q)·C+c for pixel (2i+p, 2j+q).
// H and W must be even.
func SpaceToDepth(x *Node) *Node {
	checkImage("SpaceToDepth", x)
	return spaceToDepth(x, false)
}

func spaceToDepth(x *Node, cm bool) *Node {
	d := x.Shape().Dimensions
	ah, aw := spatialAxes(cm)
	h, w := d[ah], d[aw]
	if h%2 != 0 || w%2 != 0 {
		panic(fmt.Sprintf("nn.SpaceToDepth: H and W must be even, got %s", x.Shape()))
	}
	if cm { // [C,B,H,W] -> [(p,q,c),B,h,w]
		c, b := d[0], d[1]
		x = Reshape(x, c, b, h/2, 2, w/2, 2)
		x = TransposeAllAxes(x, 3, 5, 0, 1, 2, 4)
		return Reshape(x, 4*c, b, h/2, w/2)
	}
	b, c := d[0], d[3]
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
	return downsample(scope, x, outChannels, false)
}

func downsample(scope *model.Scope, x *Node, outChannels int, cm bool) *Node {
	d := x.Shape().Dimensions
	ah, aw := spatialAxes(cm)
	x = padSpatial(x, 0, d[ah]%2, 0, d[aw]%2, cm)
	x = spaceToDepth(x, cm)
	if !cm {
		return Dense(scope, x, outChannels)
	}
	c4 := x.Shape().Dimensions[0]
	w := scope.VariableWithShape("weights", shapes.Make(x.DType(), c4, outChannels)).NodeValue(x.Graph())
	y := shiftConv(x, Reshape(w, 1, 1, c4, outChannels), 0, 0, true)
	return addBiasCM(scope, y, outChannels)
}

// Upsample doubles the spatial size, [B,H,W,C] -> [B,2H,2W,outChannels]: a
// nearest-neighbour 2x upsampling followed by a 3x3 convolution, computed at
// the low resolution. Each of the four output phases (2i+p, 2j+q) of
// conv3x3(nearest(x)) is a 2x2 convolution of x whose kernel sums taps of
// the 3x3 one, so the work is 4/9 of the high-resolution convolution and no
// upsampled image is ever built. Variables "weights" [3,3,C,outChannels], "biases".
func Upsample(scope *model.Scope, x *Node, outChannels int) *Node {
	checkImage("Upsample", x)
	return upsample(scope, x, outChannels, false)
}

func upsample(scope *model.Scope, x *Node, outChannels int, cm bool) *Node {
	c := x.Shape().Dimensions[3]
	if cm {
		c = x.Shape().Dimensions[0]
	}
	k := scope.VariableWithShape("weights", shapes.Make(x.DType(), 3, 3, c, outChannels)).NodeValue(x.Graph())
	y := upsampleConv(x, k, cm)
	if cm {
		return addBiasCM(scope, y, outChannels)
	}
	return addBias(scope, y, outChannels)
}

// phaseTaps[p] maps the 3 taps of a 3x3 kernel row onto the 2 low-resolution
// offsets seen by output phase p: phase 0 reads offsets {-1,0} (tap 0; taps
// 1+2), phase 1 reads {0,+1} (taps 0+1; tap 2).
var phaseTaps = [2][][]float64{
	{{1, 0, 0}, {0, 1, 1}},
	{{1, 1, 0}, {0, 0, 1}},
}

// upsampleConv computes conv3x3(nearest2x(x), k) without a bias. (A single
// low-resolution 3x3 convolution to 4·Cout channels computes the same and
// was 1.6x slower: it multiplies by the zeros of the embedded 2x2 kernels.)
func upsampleConv(x, k *Node, cm bool) *Node {
	g, dt := x.Graph(), x.DType()
	cout := k.Shape().Dimensions[3]
	phases := make([]*Node, 0, 4)
	for p := 0; p < 2; p++ {
		mp := ConvertDType(Const(g, phaseTaps[p]), dt)
		rows := Einsum("ai,ijcf->ajcf", mp, k) // [2,3,C,Cout]
		for q := 0; q < 2; q++ {
			mq := ConvertDType(Const(g, phaseTaps[q]), dt)
			kpq := Einsum("bj,ajcf->abcf", mq, rows) // [2,2,C,Cout]
			phases = append(phases, shiftConv(x, kpq, 1-p, 1-q, cm))
		}
	}
	d := x.Shape().Dimensions
	if cm { // 4 x [Cout,B,h,w] -> [(p,q),Cout,B,h,w] -> [Cout,B,h,p,w,q]
		b, h, w := d[1], d[2], d[3]
		y := Reshape(Concatenate(phases, 0), 2, 2, cout, b, h, w)
		y = TransposeAllAxes(y, 2, 3, 4, 0, 5, 1)
		return Reshape(y, cout, b, 2*h, 2*w)
	}
	// 4 x [B,h,w,Cout] -> [B,h,w,(p,q),Cout] -> [B,2h,2w,Cout]
	b, h, w := d[0], d[1], d[2]
	y := Reshape(Stack(phases, 3), b, h, w, 2, 2, cout)
	y = TransposeAllAxes(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, b, 2*h, 2*w, cout)
}
