package engine

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"genmod/internal/gemm"
)

// TestMatMulKernelInstalled checks that the kernel in use is the one
// chooseKernel's rule picks for this CPU and environment, and that the
// engine's registry is what matmul.go mirrors: after a GoMLX/compute
// upgrade that changed it, this is the test that says so.
func TestMatMulKernelInstalled(t *testing.T) {
	if _, err := NewBackend("go:parallelism=-1"); err != nil {
		t.Fatal(err)
	}
	status := MatMulKernel()
	t.Logf("matmul kernel: %s (genmod's assembly runs here: %v)", status, gemm.Accelerated())
	if err := checkRegistry(); err != nil {
		t.Fatalf("the engine's DotGeneral registry is not what internal/engine/matmul.go mirrors: %v", err)
	}
	want, _ := chooseKernel(strings.ToLower(os.Getenv(GemmEnv)), gemm.Accelerated())
	if gemmInstalled != want {
		t.Errorf("genmod's kernel in use: %v, the rule says %v (%s=%q, AVX2+FMA %v): %s",
			gemmInstalled, want, GemmEnv, os.Getenv(GemmEnv), gemm.Accelerated(), status)
	}
}

// TestChooseKernel is the rule on every kind of CPU, whatever this one is.
func TestChooseKernel(t *testing.T) {
	for _, c := range []struct {
		mode        string
		accelerated bool
		want        bool
	}{
		{"", true, true}, // AVX2 or AVX-512 with FMA: genmod's assembly
		{"", false, false},
		{"engine", true, false},
		{"engine", false, false},
		{"genmod", true, true},
		{"genmod", false, true}, // forced: the pure-Go micro-kernel
		{"blas", true, false},   // unknown: the engine's, and say so
	} {
		got, why := chooseKernel(c.mode, c.accelerated)
		if got != c.want {
			t.Errorf("chooseKernel(%q, accelerated=%v) = %v, want %v", c.mode, c.accelerated, got, c.want)
		}
		if !got && why == "" {
			t.Errorf("chooseKernel(%q, %v): the engine's kernel with no reason", c.mode, c.accelerated)
		}
	}
}

// TestMatMulThroughEngine runs real graph products (both layouts, batched,
// float32) through the Go backend with genmod's kernel and with the
// engine's (whichever the engine picked for this CPU: simd:avx2,
// simd:avx512, ...), checks that the first ran in internal/gemm and the
// second did not, and that both agree with a float64 reference.
func TestMatMulThroughEngine(t *testing.T) {
	backend, err := NewBackend("go:parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	if genmodF32[0] == nil {
		t.Skipf("genmod's kernel cannot be installed: %s", MatMulKernel())
	}
	t.Logf("engine's kernel: %s; genmod's: %s", engineF32[0].name, gemm.Kernel())
	defer setGemm(gemmInstalled)
	const batch, m, n, k = 3, 37, 45, 300
	lhs, rhs, rhsT := randTensor(1, batch, m, k), randTensor(2, batch, k, n), randTensor(3, batch, n, k)
	products := map[string]func(l, r, rT *Node) *Node{
		"NonTransposed": func(l, r, _ *Node) *Node { return Einsum("bmk,bkn->bmn", l, r) },
		"Transposed":    func(l, _, rT *Node) *Node { return Einsum("bmk,bnk->bmn", l, rT) },
	}
	for name, product := range products {
		var got [2][]float32
		for i, on := range []bool{true, false} {
			setGemm(on)
			before := gemmCalls.Load()
			out := MustNewExec(backend, product).MustExec(lhs, rhs, rhsT)[0]
			if used := gemmCalls.Load() > before; used != on {
				t.Errorf("%s: genmod kernel switched on=%v, but it ran: %v", name, on, used)
			}
			got[i] = tensors.MustCopyFlatData[float32](out)
		}
		a, b, bT := flat(lhs), flat(rhs), flat(rhsT)
		for q := range batch {
			for i := range m {
				for j := range n {
					var want, abs float64
					for p := range k {
						bv := b[q*k*n+p*n+j]
						if name == "Transposed" {
							bv = bT[q*n*k+j*k+p]
						}
						v := float64(a[q*m*k+i*k+p]) * float64(bv)
						want, abs = want+v, abs+math.Abs(v)
					}
					// k·u·Σ|a·b|: the γ_k bound for any float32 summation order.
					tol := float64(k) * 0x1p-24 * abs
					idx := q*m*n + i*n + j
					for v, kernel := range []string{"genmod", "engine"} {
						if e := math.Abs(float64(got[v][idx]) - want); e > tol {
							t.Fatalf("%s %s kernel: out[%d,%d,%d] = %v, want %v (tolerance %.2g)", name, kernel, q, i, j, got[v][idx], want, tol)
						}
					}
				}
			}
		}
	}
}

// TestCheckRegistryRejects checks that the guard notices layouts other
// than the mirrors': a changed field, order or type is refused.
func TestCheckRegistryRejects(t *testing.T) {
	mapType, err := registryType()
	if err != nil {
		t.Fatal(err)
	}
	key := mapType.Key()
	type reordered struct {
		InputDType, OutputDType dtypes.DType
		Layout                  int
	}
	type extra struct {
		Layout                  int
		InputDType, OutputDType dtypes.DType
		Bits                    int
	}
	type narrower struct {
		Layout                  int32
		InputDType, OutputDType dtypes.DType
	}
	for _, mirror := range []reflect.Type{reflect.TypeFor[reordered](), reflect.TypeFor[extra](), reflect.TypeFor[narrower]()} {
		if sameLayout(key, mirror, "ImplementationKey", dotPkg) == nil {
			t.Errorf("the guard accepts %v as a mirror of %v", mirror, key)
		}
	}
	if sameLayout(key, reflect.TypeFor[dotImplKey](), "ImplementationKey", "github.com/gomlx/compute/internal/gobackend/dot/v2") == nil {
		t.Error("the guard accepts another package")
	}
	if err := checkFnType(reflect.TypeOf(gemmDot), key.Field(0).Type); err == nil || !strings.Contains(err.Error(), "DotGeneralExecFn") {
		t.Errorf("the guard accepts gemmDot's own type as the engine's: %v", err)
	}
}

func randTensor(seed int, dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MustMutableFlatData(t, func(f []float32) {
		for i := range f {
			f[i] = float32((i*7919+seed*104729)%2000)/1000 - 1
		}
	})
	return t
}

func flat(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }
