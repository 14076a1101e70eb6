package nn

import (
	"flag"
	"fmt"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"genmod/internal/engine"
	"genmod/nn/nntest"
)

// randF32 is a deterministic float32 tensor with values in [-0.5, 0.5).
func randF32(dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MustMutableFlatData(t, func(f []float32) {
		for i := range f {
			f[i] = float32((i*7919)%1000)/1000 - 0.5
		}
	})
	return t
}

// benchConvBlock times forward+backward of conv3x3 -> act -> conv3x3 with
// gradients for the input and both kernels, in the NHWC or channel-major layout.
func benchConvBlock(b *testing.B, batch, hw, c int, cm bool) {
	x := randF32(batch, hw, hw, c)
	if cm {
		x = randF32(c, batch, hw, hw)
	}
	k1 := randF32(3, 3, c, c)
	k2 := randF32(3, 3, c, c)
	e := MustNewExec(nntest.Backend(), func(x, k1, k2 *Node) []*Node {
		y := shiftConv(Act(shiftConv(x, k1, 1, 1, cm)), k2, 1, 1, cm)
		loss := ReduceAllMean(Square(y))
		return Gradient(loss, x, k1, k2)
	})
	e.MustExec(x, k1, k2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.MustExec(x, k1, k2)
	}
}

// BenchmarkConvBlock is DESIGN.md's convolution benchmark (plus 28x28x32),
// with genmod's float32 matmul kernel and the engine's, alternating.
func BenchmarkConvBlock(b *testing.B) {
	for _, s := range [][2]int{{28, 64}, {14, 128}, {28, 32}} {
		for _, cm := range []bool{false, true} {
			runKernels(b, fmt.Sprintf("%dx%d_cm=%v", s[0], s[1], cm), func(b *testing.B) { benchConvBlock(b, 64, s[0], s[1], cm) })
		}
	}
}

var kernelRounds = flag.Int("kernel-rounds", 1, "rounds of the alternating genmod/engine matmul kernel sub-benchmarks")

// runKernels runs bench as sub-benchmarks NAME/kernel=genmod and
// NAME/kernel=engine, alternating, -kernel-rounds times (repeats are named
// #01, #02, ...), in one process: on a busy machine the two see the same
// load (see internal/engine, SetGenmodMatMul).
func runKernels(b *testing.B, name string, bench func(b *testing.B)) {
	nntest.Backend() // installs genmod's kernel where it can
	defer engine.SetGenmodMatMul(engine.GenmodMatMul())
	for range *kernelRounds {
		for _, kernel := range []string{"genmod", "engine"} {
			b.Run(name+"/kernel="+kernel, func(b *testing.B) {
				if engine.SetGenmodMatMul(kernel == "genmod") != (kernel == "genmod") {
					b.Skipf("genmod's kernel cannot be installed: %s", engine.MatMulKernel())
				}
				bench(b)
			})
		}
	}
}

// BenchmarkMatMulConvSized is the bare matmul of one 28x28x64 conv at
// batch 64 (the flat-shift P·K): the floor under BenchmarkConvBlock, whose
// forward+backward runs six of them.
func BenchmarkMatMulConvSized(b *testing.B) {
	p := randF32(54665, 576)
	k := randF32(576, 64)
	e := MustNewExec(nntest.Backend(), func(p, k *Node) *Node { return MatMul(p, k) })
	e.MustExec(p, k)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.MustExec(p, k)
	}
	b.ReportMetric(2*54665*576*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

// BenchmarkMatMulUNetShapes times the products that dominate the U-Net
// training step at batch 64 (channel-major flat-shift convs): the forward
// and dx products K·P (few rows, ~55k columns) and the kernel gradients
// V·Pᵀ (a deep contraction over the positions, both operands contracting
// their last axis). On the Go backend (v0.28.2, AVX2) they ran at 9-24
// GFLOP/s on a busy 2-core machine, below its 1024x1024 SGEMM speed; a
// faster kernel has to win on these (see BENCHMARKS.md, "The convolution
// gap: attempts"). Names give the product's m, k, n.
func BenchmarkMatMulUNetShapes(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, n, k int
		transB  bool
	}{
		{"KP_m16_k144_n54665", 16, 54665, 144, false},
		{"KP_m64_k576_n4160", 64, 4160, 576, false},
		{"VPt_m16_k54665_n144", 16, 144, 54665, true},
		{"VPt_m64_k4160_n576", 64, 576, 4160, true},
	} {
		runKernels(b, s.name, func(b *testing.B) {
			lhs, rhs := randF32(s.m, s.k), randF32(s.k, s.n)
			if s.transB {
				rhs = randF32(s.n, s.k)
			}
			e := MustNewExec(nntest.Backend(), func(l, r *Node) *Node {
				if s.transB {
					return DotGeneral(l, []int{1}, nil, r, []int{1}, nil)
				}
				return MatMul(l, r)
			})
			e.MustExec(lhs, rhs)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.MustExec(lhs, rhs)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
