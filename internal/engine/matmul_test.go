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

// TestMatMulKernelInstalled fails where genmod's kernel should be in use
// (AVX2+FMA, GENMOD_GEMM unset) but is not: after a GoMLX/compute upgrade
// that changed the engine's DotGeneral registry, this is the test that says
// so (with checkRegistry's reason).
func TestMatMulKernelInstalled(t *testing.T) {
	if _, err := NewBackend("go:parallelism=-1"); err != nil {
		t.Fatal(err)
	}
	status := MatMulKernel()
	t.Logf("matmul kernel: %s", status)
	if err := checkRegistry(); err != nil {
		t.Fatalf("the engine's DotGeneral registry is not what internal/engine/matmul.go mirrors: %v", err)
	}
	if os.Getenv(GemmEnv) == "" && gemm.Accelerated() && !gemmInstalled {
		t.Errorf("genmod's kernel is not installed on an AVX2+FMA CPU: %s", status)
	}
}

// TestMatMulThroughEngine runs real graph products (both layouts, batched,
// float32) through the Go backend with genmod's kernel and with the
// engine's, checks that the first ran in internal/gemm and the second did
// not, and that both agree with a float64 reference.
func TestMatMulThroughEngine(t *testing.T) {
	backend, err := NewBackend("go:parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	if !gemmInstalled {
		t.Skipf("genmod's kernel is not in use: %s", MatMulKernel())
	}
	defer setGemm(true)
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
