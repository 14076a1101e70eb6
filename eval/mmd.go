package eval

import (
	"fmt"
	"math"
	"slices"
)

// MMD is the unbiased estimate of the squared maximum mean discrepancy
// between the distributions of x (m >= 2 points) and y (n >= 2 points),
// Gretton et al. 2012, "A kernel two-sample test", eq. (3):
//
//	MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n-1)) Σ_{i≠j} k(y_i, y_j)
//	         - 2/(mn) Σ_{i,j} k(x_i, y_j),
//
// with the sum of Gaussian (RBF) kernels over the given bandwidths h,
//
//	k(a, b) = Σ_h exp(-|a-b|² / (2h²)).
//
// Being unbiased, it can be slightly negative when the two distributions are
// equal; it is of order 1/m then. DefaultBandwidths gives the usual
// median-heuristic bandwidths. MMD(x, y) == MMD(y, x) exactly (the pair is
// put in a canonical order first, so the sums run identically).
// Cost O((m+n)² d), spread over GOMAXPROCS goroutines.
func MMD(x, y [][]float64, bandwidths []float64) (float64, error) {
	if _, err := checkPair("MMD", x, y, 2, 2); err != nil {
		return 0, err
	}
	if len(bandwidths) == 0 {
		return 0, fmt.Errorf("eval.MMD: no bandwidths (DefaultBandwidths gives the median heuristic)")
	}
	// gamma_b = 1/(2h²).
	gammas := make([]float64, len(bandwidths))
	for b, h := range bandwidths {
		if !(h > 0) || math.IsInf(h, 0) {
			return 0, fmt.Errorf("eval.MMD: bandwidth %d is %v, want a finite number > 0", b, h)
		}
		gammas[b] = 1 / (2 * h * h)
	}
	if compareSets(y, x) < 0 {
		x, y = y, x
	}
	kernel := func(a, b []float64) float64 {
		d2 := sqDist(a, b)
		var s float64
		for _, g := range gammas {
			s += math.Exp(-g * d2)
		}
		return s
	}
	m, n := float64(len(x)), float64(len(y))
	kxx := pairSum(x, x, true, kernel) / (m * (m - 1))
	kyy := pairSum(y, y, true, kernel) / (n * (n - 1))
	kxy := pairSum(x, y, false, kernel) / (m * n)
	return kxx + kyy - 2*kxy, nil
}

// pairSum is Σ_{i,j} k(a_i, b_j), or, with offDiag (a == b), Σ_{i≠j}
// computed as 2 Σ_{i<j}. Rows are summed in parallel into per-row slots and
// the slots added in order, so the result does not depend on GOMAXPROCS.
func pairSum(a, b [][]float64, offDiag bool, k func(p, q []float64) float64) float64 {
	rows := make([]float64, len(a))
	parallelFor(len(a), func(i int) {
		var s float64
		if offDiag {
			for j := i + 1; j < len(b); j++ {
				s += k(a[i], b[j])
			}
			s *= 2
		} else {
			for _, q := range b {
				s += k(a[i], q)
			}
		}
		rows[i] = s
	})
	return sum(rows)
}

// compareSets orders point sets by size, then lexicographically by value;
// it makes symmetric metrics bitwise symmetric.
func compareSets(x, y [][]float64) int {
	if len(x) != len(y) {
		return len(x) - len(y)
	}
	for i := range x {
		if c := slices.Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return 0
}

// medianSubsample bounds the points DefaultBandwidths looks at.
const medianSubsample = 1000

// DefaultBandwidths is the median heuristic for MMD (Gretton et al. 2012,
// section 8): with δ the median Euclidean distance over all pairs of points
// of the pooled sample x ∪ y (the upper median for an even number of pairs),
// it returns {δ/2, δ, 2δ}. For speed δ is taken
// over at most 1000 pooled points, picked at evenly spaced indices (so the
// result is deterministic and symmetric in x and y). It fails when δ is 0
// (more than half of the pairs coincide): give bandwidths explicitly then.
func DefaultBandwidths(x, y [][]float64) ([]float64, error) {
	if _, err := checkPair("DefaultBandwidths", x, y, 1, 1); err != nil {
		return nil, err
	}
	if compareSets(y, x) < 0 {
		x, y = y, x
	}
	pool := append(slices.Clip(x), y...)
	if len(pool) > medianSubsample {
		sub := make([][]float64, medianSubsample)
		for k := range sub {
			sub[k] = pool[k*len(pool)/medianSubsample]
		}
		pool = sub
	}
	p := len(pool)
	d2 := make([]float64, 0, p*(p-1)/2)
	for i := range p {
		for j := i + 1; j < p; j++ {
			d2 = append(d2, sqDist(pool[i], pool[j]))
		}
	}
	slices.Sort(d2)
	delta := math.Sqrt(d2[len(d2)/2]) // the upper median for an even count
	if !(delta > 0) || math.IsInf(delta, 0) {
		return nil, fmt.Errorf("eval.DefaultBandwidths: median pairwise distance is %v; pass bandwidths explicitly", delta)
	}
	return []float64{delta / 2, delta, 2 * delta}, nil
}
