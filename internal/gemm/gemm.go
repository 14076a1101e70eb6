// Package gemm is a float32 matrix product for genmod's pure-Go engine: a
// 6x16 AVX2+FMA micro-kernel in Go assembly with BLIS-style blocking and
// packing, and a pure-Go micro-kernel for other CPUs and GOARCHes.
//
// Why it exists: the engine's own float32 kernel (GoMLX compute v0.1.2,
// written with simd/archsimd) reaches ~22 GFLOP/s per core on AVX2 where the
// hardware allows ~80, because its FMAs compile to a register copy each; this
// one reaches 50-80 (BENCHMARKS.md, "The convolution gap: attempts").
// internal/engine plugs it into the engine's DotGeneral registry.
//
// The three code paths below are each there because they were measured to
// help on the products a U-Net training step makes (one thread, CPU time):
//   - packed: both operands packed into micro-panels, the general case;
//   - A in place: when the column block is at most 4 strips of nr (tall
//     products, n ≤ 64: the NHWC conv shapes), A is read unpacked by
//     kernel6x16s: 50.7 vs 41.3 GFLOP/s at 54665x576·576x64, 49.5 vs 26.1 at
//     54665x144·144x16;
//   - dot: B transposed with a deep contraction (k ≥ 1024 and k ≥ 4·max(m, n):
//     the conv kernel gradients V·Pᵀ): both operands read in place along k,
//     4x3 dot products at a time: 63.7 vs 17.6 GFLOP/s at 16x54665·(144x54665)ᵀ,
//     75.3 vs 52.1 at 64x4160·(576x4160)ᵀ.
//
// Tried and dropped: reading B in place for few-row products (slower than
// packing on 55k-column shapes); Nc of 384 or 768 (no difference).
package gemm

import (
	"fmt"
	"sync"
)

// Blocking. mr x nr is the register tile (12 YMM accumulators). A kc-deep
// panel of A (mc rows) is packed to stay in L2; a kc x nc panel of B is
// shared by all row blocks.
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 120 // a multiple of mr
	nc = 3072
)

// Paths other than the plain packed one, and when they are taken.
const (
	aInPlaceMaxCols = 4 * nr // column blocks this narrow read A in place
	dotMinK         = 1024   // deep contractions with B transposed use dot4x3
	dotChunk        = 512    // k per dot4x3 call: 4 rows of A and 3 of B stay in L1
	// Below this many multiply-adds one goroutine does the product: the
	// fan-out costs more than it saves.
	parallelMinWork = 1 << 18
)

// useAsm selects the assembly micro-kernels; set at init on amd64 when the
// CPU (and OS) support AVX2 and FMA. Tests turn it off to check the Go path.
var useAsm bool

// Accelerated reports whether the assembly micro-kernels are in use.
func Accelerated() bool { return useAsm }

// Kernel names the micro-kernel in use, for reports.
func Kernel() string {
	if useAsm {
		return "avx2+fma 6x16 asm"
	}
	return "pure Go 6x16"
}

// MatMul computes, for each of batch independent products,
//
//	c[m,n] = a[m,k] · b[k,n]     (transB false)
//	c[m,n] = a[m,k] · b[n,k]ᵀ    (transB true)
//
// with all matrices row-major and contiguous, batch after batch (a holds
// batch·m·k values, b batch·k·n, c batch·m·n). c is overwritten (k = 0 gives
// zeros). threads bounds the goroutines used; ≤ 1 runs on the caller's.
func MatMul(transB bool, batch, m, n, k int, a, b, c []float32, threads int) {
	if batch < 0 || m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size batch=%d m=%d n=%d k=%d", batch, m, n, k))
	}
	// The assembly does not check bounds: check them once here.
	if len(a) < batch*m*k || len(b) < batch*k*n || len(c) < batch*m*n {
		panic(fmt.Sprintf("gemm: buffers too short for batch=%d m=%d n=%d k=%d: len(a)=%d len(b)=%d len(c)=%d",
			batch, m, n, k, len(a), len(b), len(c)))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:batch*m*n])
		return
	}
	one := func(i, threads int) {
		sgemm(transB, m, n, k, a[i*m*k:(i+1)*m*k], b[i*k*n:(i+1)*k*n], c[i*m*n:(i+1)*m*n], threads)
	}
	// Many small products (attention heads): one goroutine per share of the
	// batch instead of one per share of each product.
	if threads > 1 && batch > 1 && m*n*k < parallelMinWork && batch*m*n*k >= parallelMinWork {
		parallel(batch, threads, 1, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				one(i, 1)
			}
		})
		return
	}
	for i := range batch {
		one(i, threads)
	}
}

// parallel splits [0, n) into at most threads ranges, each a multiple of
// align long except the last, and runs fn on each, waiting for all.
func parallel(n, threads, align int, fn func(i0, i1 int)) {
	step := (n + threads - 1) / threads
	step = max(align, (step+align-1)/align*align)
	if step >= n {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i0 := 0; i0 < n; i0 += step {
		i1 := min(n, i0+step)
		wg.Go(func() { fn(i0, i1) })
	}
	wg.Wait()
}

// sgemm is one product of MatMul.
func sgemm(transB bool, m, n, k int, a, b, c []float32, threads int) {
	if useAsm && transB && k >= dotMinK && k >= 4*max(m, n) {
		dotGemm(m, n, k, a, b, c, threads)
		return
	}
	if threads <= 1 || m*n*k < parallelMinWork {
		block(transB, n, k, a, b, c, 0, m, 0, n)
		return
	}
	// Split the longer side, in whole register tiles.
	if m >= n {
		parallel(m, threads, mr, func(i0, i1 int) { block(transB, n, k, a, b, c, i0, i1, 0, n) })
	} else {
		parallel(n, threads, nr, func(j0, j1 int) { block(transB, n, k, a, b, c, 0, m, j0, j1) })
	}
}

// buffers are the packed panels of one goroutine: a mc x kc panel of A, a
// kc x nc panel of B, and one tile for partial tiles at the edges.
type buffers struct{ a, b, tile []float32 }

var pool = sync.Pool{New: func() any {
	return &buffers{a: make([]float32, mc*kc), b: make([]float32, kc*nc), tile: make([]float32, mr*nr)}
}}

// block computes the rows [i0,i1) and columns [j0,j1) of c.
func block(transB bool, n, k int, a, b, c []float32, i0, i1, j0, j1 int) {
	bf := pool.Get().(*buffers)
	defer pool.Put(bf)
	// Split k into equal panels of at most kc, so that no panel is a sliver.
	panels := (k + kc - 1) / kc
	kstep := (k + panels - 1) / panels
	for jc := j0; jc < j1; jc += nc {
		ncur := min(nc, j1-jc)
		for pc := 0; pc < k; pc += kstep {
			kcur := min(kstep, k-pc)
			acc := 0 // the first k panel writes c, the next ones add to it
			if pc > 0 {
				acc = 1
			}
			if transB {
				packBT(b, k, pc, kcur, jc, ncur, bf.b)
			} else {
				packB(b, n, pc, kcur, jc, ncur, bf.b)
			}
			if !useAsm || ncur > aInPlaceMaxCols {
				packed(k, n, a, c, bf, i0, i1, jc, 0, ncur, pc, kcur, acc)
				continue
			}
			// Few column strips: packing A would buy little reuse, so full
			// tiles read A in place; the ragged rows and columns go through
			// the packed path.
			fullM := i0 + (i1-i0)/mr*mr
			fullN := ncur / nr * nr
			for ir := i0; ir < fullM; ir += mr {
				for jr := 0; jr < fullN; jr += nr {
					kernel6x16s(kcur, &a[ir*k+pc], k, &bf.b[jr*kcur], &c[ir*n+jc+jr], n, acc)
				}
			}
			if fullM < i1 {
				packed(k, n, a, c, bf, fullM, i1, jc, 0, ncur, pc, kcur, acc)
			}
			if fullN < ncur {
				packed(k, n, a, c, bf, i0, fullM, jc, fullN, ncur, pc, kcur, acc)
			}
		}
	}
}

// packed computes rows [i0,i1) and the column strips [jlo,jhi) (relative to
// jc) of the current k panel, with B already packed in bf.b: A is packed mc
// rows at a time and the micro-kernel runs over every tile. Partial tiles
// at the edges go through bf.tile (the packed panels are zero-padded, so
// the kernel always computes a full tile).
func packed(k, n int, a, c []float32, bf *buffers, i0, i1, jc, jlo, jhi, pc, kcur, acc int) {
	for ic := i0; ic < i1; ic += mc {
		mcur := min(mc, i1-ic)
		packA(a, k, ic, mcur, pc, kcur, bf.a)
		for jr := jlo; jr < jhi; jr += nr {
			bp := bf.b[jr*kcur:]
			nn := min(nr, jhi-jr)
			for ir := 0; ir < mcur; ir += mr {
				ap := bf.a[ir*kcur:]
				mm := min(mr, mcur-ir)
				row, col := ic+ir, jc+jr
				if mm == mr && nn == nr {
					microKernel(kcur, ap, bp, c[row*n+col:], n, acc)
					continue
				}
				microKernel(kcur, ap, bp, bf.tile, nr, 0)
				for i := range mm {
					dst := c[(row+i)*n+col : (row+i)*n+col+nn]
					src := bf.tile[i*nr : i*nr+nn]
					if acc == 1 {
						for j := range dst {
							dst[j] += src[j]
						}
					} else {
						copy(dst, src)
					}
				}
			}
		}
	}
}

// microKernel computes one mr x nr tile: c[i*ldc+j] = (acc ? c : 0) +
// Σ_p a[p*mr+i]·b[p*nr+j], from packed panels a (k x mr) and b (k x nr).
// c must hold 5*ldc+nr values.
func microKernel(k int, a, b, c []float32, ldc, acc int) {
	if useAsm {
		_, _, _ = a[k*mr-1], b[k*nr-1], c[(mr-1)*ldc+nr-1]
		kernel6x16(k, &a[0], &b[0], &c[0], ldc, acc)
		return
	}
	kernelGo(k, a, b, c, ldc, acc)
}

// kernelGo is microKernel in Go: one row of the tile at a time, its 16
// sums held in an array the compiler keeps in registers or L1.
func kernelGo(k int, a, b, c []float32, ldc, acc int) {
	a, b = a[:k*mr], b[:k*nr]
	for i := range mr {
		var sum [nr]float32
		for p := range k {
			av := a[p*mr+i]
			bp := (*[nr]float32)(b[p*nr:])
			for j := range nr {
				sum[j] += av * bp[j]
			}
		}
		row := (*[nr]float32)(c[i*ldc:])
		if acc == 1 {
			for j := range nr {
				row[j] += sum[j]
			}
		} else {
			*row = sum
		}
	}
}

// packA packs a[i0:i0+mcur, p0:p0+kcur] (row stride lda) into micro-panels
// of mr rows: for each panel, kcur groups of mr values, rows past mcur zero.
func packA(a []float32, lda, i0, mcur, p0, kcur int, dst []float32) {
	d := 0
	for ir := 0; ir < mcur; ir += mr {
		mm := min(mr, mcur-ir)
		if mm == mr {
			base := (i0+ir)*lda + p0
			r0 := a[base : base+kcur]
			r1 := a[base+lda : base+lda+kcur]
			r2 := a[base+2*lda : base+2*lda+kcur]
			r3 := a[base+3*lda : base+3*lda+kcur]
			r4 := a[base+4*lda : base+4*lda+kcur]
			r5 := a[base+5*lda : base+5*lda+kcur]
			out := dst[d : d+kcur*mr]
			for p := range kcur {
				o := out[p*mr : p*mr+mr : p*mr+mr]
				o[0], o[1], o[2], o[3], o[4], o[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
		} else {
			for p := range kcur {
				for i := range mr {
					v := float32(0)
					if i < mm {
						v = a[(i0+ir+i)*lda+p0+p]
					}
					dst[d+p*mr+i] = v
				}
			}
		}
		d += kcur * mr
	}
}

// packB packs b[p0:p0+kcur, j0:j0+ncur] (b is [k,n], row stride ldb) into
// strips of nr columns: for each strip, kcur rows of nr values, columns past
// ncur zero.
func packB(b []float32, ldb, p0, kcur, j0, ncur int, dst []float32) {
	full := ncur / nr * nr
	for p := range kcur {
		row := b[(p0+p)*ldb+j0 : (p0+p)*ldb+j0+ncur]
		for jr := 0; jr < full; jr += nr {
			*(*[nr]float32)(dst[jr*kcur+p*nr:]) = *(*[nr]float32)(row[jr:])
		}
		if full < ncur {
			o := dst[full*kcur+p*nr : full*kcur+p*nr+nr]
			clear(o[copy(o, row[full:]):])
		}
	}
}

// packBT is packB for b stored transposed, [n,k] with row stride ldb.
func packBT(b []float32, ldb, p0, kcur, j0, ncur int, dst []float32) {
	d := 0
	for jr := 0; jr < ncur; jr += nr {
		nn := min(nr, ncur-jr)
		for j := range nr {
			if j >= nn {
				for p := range kcur {
					dst[d+p*nr+j] = 0
				}
				continue
			}
			src := b[(j0+jr+j)*ldb+p0 : (j0+jr+j)*ldb+p0+kcur]
			for p, v := range src {
				dst[d+p*nr+j] = v
			}
		}
		d += kcur * nr
	}
}

// dotGemm is c[m,n] = a[m,k]·b[n,k]ᵀ for small m, n and large k (assembly
// only): both operands are read in place along k, 4 rows of a by 3 rows of
// b at a time, 8 lanes of k per register; no packing. Work is split over
// the column blocks.
func dotGemm(m, n, k int, a, b, c []float32, threads int) {
	blocks := (n + 2) / 3
	if threads <= 1 || m*n*k < parallelMinWork {
		dotBlocks(m, n, k, a, b, c, 0, blocks)
		return
	}
	parallel(blocks, threads, 1, func(j0, j1 int) { dotBlocks(m, n, k, a, b, c, j0, j1) })
}

// dotBlocks computes the columns of c in the column blocks [jb0,jb1) of 3.
// Edge blocks repeat the last row of a or b (the results are not stored),
// so dot4x3 always reads valid rows.
func dotBlocks(m, n, k int, a, b, c []float32, jb0, jb1 int) {
	var lanes [4 * 3 * 8]float32
	k8 := k / 8 * 8
	for jb := jb0; jb < jb1; jb++ {
		j := jb * 3
		for i := 0; i < m; i += 4 {
			var ar [4]int
			var br [3]int
			for t := range ar {
				ar[t] = min(i+t, m-1) * k
			}
			for t := range br {
				br[t] = min(j+t, n-1) * k
			}
			var sum [12]float32
			for p0 := 0; p0 < k8; p0 += dotChunk {
				kk := min(dotChunk, k8-p0)
				dot4x3(kk/8, &a[ar[0]+p0], &a[ar[1]+p0], &a[ar[2]+p0], &a[ar[3]+p0],
					&b[br[0]+p0], &b[br[1]+p0], &b[br[2]+p0], &lanes[0])
				for q := range sum {
					o := lanes[q*8 : q*8+8]
					sum[q] += ((o[0] + o[1]) + (o[2] + o[3])) + ((o[4] + o[5]) + (o[6] + o[7]))
				}
			}
			for ii := range min(4, m-i) {
				for jj := range min(3, n-j) {
					s := sum[ii*3+jj]
					ra, rb := a[(i+ii)*k:(i+ii+1)*k], b[(j+jj)*k:(j+jj+1)*k]
					for p := k8; p < k; p++ {
						s += ra[p] * rb[p]
					}
					c[(i+ii)*n+j+jj] = s
				}
			}
		}
	}
}
