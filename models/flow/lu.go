package flow

import (
	"math"
	"math/rand/v2"
)

// luInit is the starting point of an invertible 1x1 convolution (Glow,
// section 3.2): a random rotation W₀ = Q (Q from the QR decomposition of a
// Gaussian matrix drawn from seed), factored as W₀ = P·L·(U + diag(s)) by LU
// with partial pivoting. perm is P as a c×c 0/1 matrix (row-major), lower
// the unit lower-triangular L without its diagonal, upper the strictly upper
// part of U, and s its diagonal. Everything is a pure function of (c, seed),
// so P, which is never trained, is rebuilt identically when a run is loaded.
func luInit(c int, seed uint64) (perm, lower, upper, s []float64) {
	q := randomRotation(c, seed)
	// Doolittle LU with partial pivoting on a copy of q: after it, row i of
	// L·U is row piv[i] of q.
	a := append([]float64(nil), q...)
	piv := make([]int, c)
	for i := range piv {
		piv[i] = i
	}
	for k := 0; k < c; k++ {
		p := k
		for i := k + 1; i < c; i++ {
			if math.Abs(a[i*c+k]) > math.Abs(a[p*c+k]) {
				p = i
			}
		}
		if p != k {
			for j := 0; j < c; j++ {
				a[k*c+j], a[p*c+j] = a[p*c+j], a[k*c+j]
			}
			piv[k], piv[p] = piv[p], piv[k]
		}
		for i := k + 1; i < c; i++ {
			a[i*c+k] /= a[k*c+k]
			for j := k + 1; j < c; j++ {
				a[i*c+j] -= a[i*c+k] * a[k*c+j]
			}
		}
	}
	// Row i of L·U is row piv[i] of q, so q = P·L·U with P[piv[i]][i] = 1.
	perm = make([]float64, c*c)
	lower = make([]float64, c*c)
	upper = make([]float64, c*c)
	s = make([]float64, c)
	for i := 0; i < c; i++ {
		perm[piv[i]*c+i] = 1
		for j := 0; j < c; j++ {
			switch {
			case j < i:
				lower[i*c+j] = a[i*c+j]
			case j > i:
				upper[i*c+j] = a[i*c+j]
			default:
				s[i] = a[i*c+j]
			}
		}
	}
	return perm, lower, upper, s
}

// randomRotation is an orthogonal c×c matrix (row-major): modified
// Gram-Schmidt on the columns of a Gaussian matrix drawn from seed.
func randomRotation(c int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x1f1a7))
	for {
		a := make([]float64, c*c)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		ok := true
		for j := 0; j < c && ok; j++ {
			for k := 0; k < j; k++ {
				var d float64
				for i := 0; i < c; i++ {
					d += a[i*c+j] * a[i*c+k]
				}
				for i := 0; i < c; i++ {
					a[i*c+j] -= d * a[i*c+k]
				}
			}
			var n float64
			for i := 0; i < c; i++ {
				n += a[i*c+j] * a[i*c+j]
			}
			n = math.Sqrt(n)
			if n < 1e-6 { // (practically never) a degenerate draw: draw again
				ok = false
				break
			}
			for i := 0; i < c; i++ {
				a[i*c+j] /= n
			}
		}
		if ok {
			return a
		}
	}
}
