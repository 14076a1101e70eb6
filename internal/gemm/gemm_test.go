package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// randSlice returns n values uniform in [-1, 1), the same for the same seed.
func randSlice(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	f := make([]float32, n)
	for i := range f {
		f[i] = 2*r.Float32() - 1
	}
	return f
}

// reference returns the exact-in-float64 products and, for the tolerance,
// Σ_p |a_ip·b_pj| of every output.
func reference(transB bool, batch, m, n, k int, a, b []float32) (want, absSum []float64) {
	want, absSum = make([]float64, batch*m*n), make([]float64, batch*m*n)
	for q := range batch {
		aq, bq := a[q*m*k:], b[q*k*n:]
		for i := range m {
			for j := range n {
				var s, sa float64
				for p := range k {
					bv := bq[p*n+j]
					if transB {
						bv = bq[j*k+p]
					}
					v := float64(aq[i*k+p]) * float64(bv)
					s += v
					sa += math.Abs(v)
				}
				want[q*m*n+i*n+j], absSum[q*m*n+i*n+j] = s, sa
			}
		}
	}
	return want, absSum
}

// tolerance bounds |c - exact| for one output. Each float32 output is a sum
// of k products formed by chains of FMAs and additions; a chain of d
// roundings has error at most about d·u·Σ|a_p·b_p| (u = 2⁻²⁴; the
// standard γ_d bound, first order). The longest chain here: up to kc FMAs
// within a k panel plus one addition per further panel (packed paths), or
// dotChunk/8 FMAs per lane plus a 3-level lane reduction plus one addition
// per chunk (dot path): both below min(k, kc) + ceil(k/kc) + 8. Storing the
// result adds u·|c|. A missing or doubled term would be off by ~|a_p·b_p|,
// orders of magnitude above this bound.
func tolerance(k int, absSum, want float64) float64 {
	const u = 0x1p-24
	d := float64(min(k, kc) + (k+kc-1)/kc + 8)
	return 1.01*d*u*absSum + u*math.Abs(want) + 1e-30
}

type shape struct{ batch, m, n, k int }

func (s shape) String() string { return fmt.Sprintf("b%d_m%d_n%d_k%d", s.batch, s.m, s.n, s.k) }

// shapes: the small sizes around the tile (mr = 6, nr = 16), the sizes
// around the blocks (mc = 120, kc = 256, nc = 3072, 4·nr = 64 where the A-in-
// place path starts), deep contractions for the dot path (k ≥ 1024 and
// ≥ 4·max(m, n)), batches, and k = 0.
func testShapes() []shape {
	var s []shape
	small := []int{1, 2, 5, 6, 7, 15, 16, 17, 31}
	for _, m := range small {
		for _, n := range small {
			for _, k := range []int{1, 2, 7, 16, 31} {
				s = append(s, shape{1, m, n, k})
			}
		}
	}
	for _, d := range []int{255, 256, 257, 300} {
		s = append(s, shape{1, d, d, d}, shape{1, d, 17, 31}, shape{1, 7, d, 300}, shape{1, 31, 15, d})
	}
	s = append(s,
		shape{1, 119, 63, 257}, shape{1, 120, 64, 256}, shape{1, 121, 65, 513}, // mc, 4·nr, kc
		shape{1, 241, 48, 100}, shape{1, 13, 3073, 17}, shape{1, 5, 6200, 9}, // 2·mc, nc
		shape{1, 2000, 1, 300}, shape{1, 1, 2000, 300}, shape{1, 1, 1, 300000}, // vectors, threads > work
		shape{1, 16, 144, 5000}, shape{1, 17, 145, 4099}, shape{1, 5, 7, 1031}, shape{1, 64, 70, 1024}, // dot path
		shape{3, 7, 17, 31}, shape{4, 33, 40, 64}, shape{2, 130, 70, 600}, shape{5, 16, 20, 2048}, // batches
		shape{1, 5, 7, 0}, shape{2, 16, 17, 0}, shape{1, 0, 5, 3}, shape{1, 5, 0, 3}, shape{0, 5, 5, 5}, // empty
	)
	return s
}

func check(t *testing.T, s shape, transB bool, threads int) {
	t.Helper()
	a, b := randSlice(s.batch*s.m*s.k, 1), randSlice(s.batch*s.k*s.n, 2)
	// c starts as garbage: MatMul must overwrite it, never add to it.
	c := randSlice(s.batch*s.m*s.n, 3)
	for i := range c {
		c[i] += 1000
	}
	MatMul(transB, s.batch, s.m, s.n, s.k, a, b, c, threads)
	want, absSum := reference(transB, s.batch, s.m, s.n, s.k, a, b)
	bad := 0
	for i := range c {
		if err := math.Abs(float64(c[i]) - want[i]); !(err <= tolerance(s.k, absSum[i], want[i])) {
			if bad < 3 {
				t.Errorf("%v transB=%v threads=%d: c[%d] = %v, want %v (error %.3g, tolerance %.3g)",
					s, transB, threads, i, c[i], want[i], err, tolerance(s.k, absSum[i], want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%v transB=%v threads=%d: %d of %d outputs out of tolerance", s, transB, threads, bad, len(c))
	}
}

func TestMatMul(t *testing.T) {
	kernels := []bool{false}
	if Accelerated() {
		kernels = append(kernels, true)
	}
	saved := useAsm
	defer func() { useAsm = saved }()
	for _, asm := range kernels {
		useAsm = asm
		t.Run(Kernel(), func(t *testing.T) {
			for _, s := range testShapes() {
				if testing.Short() && s.m*s.n*s.k > 1<<22 {
					continue
				}
				for _, transB := range []bool{false, true} {
					for _, threads := range []int{1, 2, 3, 8} {
						check(t, s, transB, threads)
					}
				}
			}
		})
	}
}

// TestAccelerated fails on a linux/amd64 machine whose /proc/cpuinfo lists
// avx2 and fma where the assembly is not selected, so a broken CPU check
// does not go unnoticed.
func TestAccelerated(t *testing.T) {
	t.Logf("kernel: %s", Kernel())
	info, err := os.ReadFile("/proc/cpuinfo")
	if runtime.GOARCH != "amd64" || err != nil {
		t.Skip("no /proc/cpuinfo on amd64 to compare with")
	}
	flags := strings.Fields(string(info))
	if slices.Contains(flags, "avx2") && slices.Contains(flags, "fma") && !Accelerated() {
		t.Error("the CPU has AVX2 and FMA but the assembly kernels are off")
	}
}

func TestMatMulPanicsOnShortBuffers(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a too short c")
		}
	}()
	MatMul(false, 1, 4, 4, 4, make([]float32, 16), make([]float32, 16), make([]float32, 15), 1)
}

// BenchmarkMatMul times the products of a U-Net step (see nn's
// BenchmarkMatMulUNetShapes) and a square one, on the kernel in use.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct {
		m, n, k int
		transB  bool
	}{{1024, 1024, 1024, false}, {54665, 64, 576, false}, {64, 54665, 576, false}, {16, 144, 54665, true}} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("m%d_n%d_k%d_transB=%v_threads%d", s.m, s.n, s.k, s.transB, threads), func(b *testing.B) {
				a, bb := randSlice(s.m*s.k, 1), randSlice(s.k*s.n, 2)
				c := make([]float32, s.m*s.n)
				for b.Loop() {
					MatMul(s.transB, 1, s.m, s.n, s.k, a, bb, c, threads)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
