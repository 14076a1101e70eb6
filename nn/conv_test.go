package nn

import (
	"fmt"
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

// naiveConv is the reference: out[b,i,j,o] = Σ x[b,i+di-top,j+dj-left,c]·k[di,dj,c,o].
func naiveConv(x []float64, b, h, w, c int, k []float64, kh, kw, cout, top, left int) []float64 {
	out := make([]float64, b*h*w*cout)
	for n := 0; n < b; n++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				for di := 0; di < kh; di++ {
					for dj := 0; dj < kw; dj++ {
						y, z := i+di-top, j+dj-left
						if y < 0 || y >= h || z < 0 || z >= w {
							continue
						}
						for ci := 0; ci < c; ci++ {
							xv := x[((n*h+y)*w+z)*c+ci]
							for o := 0; o < cout; o++ {
								out[((n*h+i)*w+j)*cout+o] += xv * k[((di*kw+dj)*c+ci)*cout+o]
							}
						}
					}
				}
			}
		}
	}
	return out
}

func TestShiftConvForward(t *testing.T) {
	cases := []struct {
		b, h, w, c, kh, kw, cout, top, left int
	}{
		{2, 5, 4, 3, 3, 3, 2, 1, 1},
		{1, 1, 1, 2, 3, 3, 2, 1, 1},
		{3, 2, 3, 1, 3, 3, 1, 1, 1},
		{2, 6, 5, 2, 5, 5, 3, 2, 2},
		{2, 4, 4, 3, 1, 1, 2, 0, 0},
		{2, 4, 3, 2, 2, 2, 3, 1, 1}, // offsets -1..0 (Downsample)
		{2, 3, 4, 2, 2, 2, 1, 0, 0}, // offsets 0..1
		{1, 3, 3, 2, 3, 1, 2, 1, 0},
	}
	for _, tc := range cases {
		for _, cm := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%dx%d_k%dx%d_off%d,%d_cm=%v", tc.b, tc.h, tc.w, tc.c, tc.kh, tc.kw, tc.top, tc.left, cm)
			t.Run(name, func(t *testing.T) {
				x := nntest.Rand(1, tc.b, tc.h, tc.w, tc.c)
				k := nntest.Rand(2, tc.kh, tc.kw, tc.c, tc.cout)
				got := MustExecOnce(nntest.Backend(), func(x, k *Node) *Node {
					return convInLayout(x, k, tc.top, tc.left, cm)
				}, x, k)
				want := naiveConv(tensors.MustCopyFlatData[float64](x), tc.b, tc.h, tc.w, tc.c,
					tensors.MustCopyFlatData[float64](k), tc.kh, tc.kw, tc.cout, tc.top, tc.left)
				g := tensors.MustCopyFlatData[float64](got)
				if len(g) != len(want) {
					t.Fatalf("got %d values, want %d", len(g), len(want))
				}
				for i := range g {
					if math.Abs(g[i]-want[i]) > 1e-12 {
						t.Fatalf("value %d: got %g, want %g", i, g[i], want[i])
					}
				}
			})
		}
	}
}

// convInLayout runs shiftConv on NHWC x in the NHWC or channel-major layout.
func convInLayout(x, k *Node, top, left int, cm bool) *Node {
	if !cm {
		return shiftConv(x, k, top, left, false)
	}
	y := shiftConv(TransposeAllAxes(x, 3, 0, 1, 2), k, top, left, true)
	return TransposeAllAxes(y, 1, 2, 3, 0)
}

// ConvKernelOffset with a causal anchor: the output at (i,j) only sees rows
// above i and, in row i, columns up to j.
func TestConvKernelOffsetCausal(t *testing.T) {
	x := nntest.Rand(11, 1, 4, 5, 2)
	k := nntest.Rand(12, 2, 3, 2, 1)
	got := MustExecOnce(nntest.Backend(), func(x, k *Node) *Node { return ConvKernelOffset(x, k, 1, 2) }, x, k)
	want := naiveConv(tensors.MustCopyFlatData[float64](x), 1, 4, 5, 2, tensors.MustCopyFlatData[float64](k), 2, 3, 1, 1, 2)
	assertClose(t, tensors.MustCopyFlatData[float64](got), want, 1e-12)
}

func TestConvKernelMatchesNative(t *testing.T) {
	x := nntest.Rand(3, 2, 5, 6, 3)
	k := nntest.Rand(4, 3, 3, 3, 4)
	outs := MustExecOnceN(nntest.Backend(), func(x, k *Node) []*Node {
		return []*Node{ConvKernel(x, k), Convolve(x, k).PadSame().Done()}
	}, x, k)
	a, b := tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			t.Fatalf("value %d: fast %g, native %g", i, a[i], b[i])
		}
	}
}

func TestShiftConvGradient(t *testing.T) {
	cases := []struct {
		h, w, c, kh, kw, cout, top, left int
	}{
		{4, 3, 2, 3, 3, 2, 1, 1},
		{3, 4, 2, 2, 2, 3, 1, 1},
		{3, 3, 1, 5, 5, 2, 2, 2},
		{2, 3, 2, 1, 1, 2, 0, 0},
	}
	for _, tc := range cases {
		for _, cm := range []bool{false, true} {
			t.Run(fmt.Sprintf("k%dx%d_off%d,%d_cm=%v", tc.kh, tc.kw, tc.top, tc.left, cm), func(t *testing.T) {
				x := nntest.Rand(5, 2, tc.h, tc.w, tc.c)
				k := nntest.Rand(6, tc.kh, tc.kw, tc.c, tc.cout)
				nntest.CheckBlock(t, func(_ *model.Scope, in []*Node) *Node {
					return convInLayout(in[0], in[1], tc.top, tc.left, cm)
				}, []*tensors.Tensor{x, k}, nil)
			})
		}
	}
}

// reachesType reports whether any node of type nt is an ancestor of the given nodes.
func reachesType(nt NodeType, nodes ...*Node) bool {
	seen := map[*Node]bool{}
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		if seen[n] {
			return false
		}
		seen[n] = true
		if n.Type() == nt {
			return true
		}
		for _, in := range n.Inputs() {
			if visit(in) {
				return true
			}
		}
		return false
	}
	for _, n := range nodes {
		if visit(n) {
			return true
		}
	}
	return false
}

// The hand-written VJP must replace the native convolution everywhere: no
// ConvGeneral may be computed, forward, backward or second order.
func TestConvNeverRunsNativeConvolution(t *testing.T) {
	for _, cm := range []bool{false, true} {
		t.Run(fmt.Sprintf("cm=%v", cm), func(t *testing.T) {
			x := nntest.Rand(7, 2, 4, 4, 2)
			k := nntest.Rand(8, 3, 3, 2, 3)
			MustExecOnceN(nntest.Backend(), func(x, k *Node) []*Node {
				y := convInLayout(x, k, 1, 1, cm)
				loss := ReduceAllSum(Square(Tanh(y)))
				g := Gradient(loss, x, k)
				gp := ReduceAllSum(Square(g[0]))
				g2 := Gradient(gp, k)
				all := append([]*Node{y}, g...)
				all = append(all, g2...)
				if reachesType(NodeTypeConvGeneral, all...) {
					t.Errorf("a ConvGeneral node is on the computed path")
				}
				return all
			}, x, k)
		})
	}
}

// Second order through the hand-written VJP: d/dK of ‖∇ₓ Σ tanh(conv(x,K))‖².
func TestConvSecondOrder(t *testing.T) {
	for _, cm := range []bool{false, true} {
		t.Run(fmt.Sprintf("cm=%v", cm), func(t *testing.T) {
			nntest.CheckGradients(t, func(_ *model.Scope, in []*Node) *Node {
				x, k := in[0], in[1]
				gx := Gradient(nntest.WeightedSum(Tanh(convInLayout(x, k, 1, 1, cm))), x)[0]
				return ReduceAllSum(Square(gx))
			}, []*tensors.Tensor{nntest.Rand(9, 2, 3, 4, 2), nntest.Rand(10, 3, 3, 2, 2)}, nil)
		})
	}
}
