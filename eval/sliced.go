package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SlicedW is the sliced 2-Wasserstein distance (Rabin et al. 2011; Bonneel
// et al. 2015) between the empirical distributions of x and y, which may
// differ in size but not in dimension:
//
//	SW2(x, y) = ( E_θ W2²(θ·x, θ·y) )^{1/2},  θ uniform on the unit sphere,
//
// estimated with the given number of random directions (Gaussian vectors
// normalized; same seed, same directions). Each 1-D W2² is exact: the
// integral over t in [0, 1] of (F_x⁻¹(t) - F_y⁻¹(t))², the squared gap of
// the two sorted projections matched quantile by quantile (for equal sizes,
// the i-th smallest to the i-th smallest).
//
// This is the root of the mean of the squared 1-D distances, the usual
// definition (it is POT's ot.sliced_wasserstein_distance with p=2). For a
// translation by s it equals |s|·(E cos²)^{1/2} = |s|/√d, not the mean of
// the 1-D distances |s|·E|cos θ| (2|s|/π in 2-D). Cost O(P (m+n)(d + log)).
func SlicedW(x, y [][]float64, projections int, seed int64) (float64, error) {
	d, err := checkPair("SlicedW", x, y, 1, 1)
	if err != nil {
		return 0, err
	}
	if projections < 1 {
		return 0, fmt.Errorf("eval.SlicedW: projections is %d, want >= 1", projections)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed5115ced))
	dirs := make([][]float64, projections)
	for p := range dirs {
		dirs[p] = randomDirection(rng, d)
	}
	w2 := make([]float64, projections)
	parallelFor(projections, func(p int) {
		w2[p] = w2sq1D(project(x, dirs[p]), project(y, dirs[p]))
	})
	return math.Sqrt(sum(w2) / float64(projections)), nil
}

// randomDirection is a uniform unit vector in d dimensions.
func randomDirection(rng *rand.Rand, d int) []float64 {
	for {
		u := make([]float64, d)
		var n2 float64
		for k := range u {
			u[k] = rng.NormFloat64()
			n2 += u[k] * u[k]
		}
		if n2 > 1e-30 {
			s := 1 / math.Sqrt(n2)
			for k := range u {
				u[k] *= s
			}
			return u
		}
	}
}

// project returns the sorted projections θ·x_i.
func project(x [][]float64, theta []float64) []float64 {
	p := make([]float64, len(x))
	for i, r := range x {
		var s float64
		for k, t := range theta {
			s += t * r[k]
		}
		p[i] = s
	}
	slices.Sort(p)
	return p
}

// w2sq1D is the squared 2-Wasserstein distance between the empirical
// distributions of the sorted samples a (m values) and b (n values):
// ∫_0^1 (F_a⁻¹(t) - F_b⁻¹(t))² dt. Both quantile functions are step
// functions, constant on [i/m, (i+1)/m) and [j/n, (j+1)/n); the merged
// breakpoints are kept as integers i·n and j·m over the common
// denominator m·n, so equal breakpoints compare exactly.
func w2sq1D(a, b []float64) float64 {
	m, n := len(a), len(b)
	var acc float64
	i, j := 0, 0
	prev := 0 // current breakpoint t·m·n
	for i < m && j < n {
		ea, eb := (i+1)*n, (j+1)*m // ends of the current steps
		e := min(ea, eb)
		t := a[i] - b[j]
		acc += float64(e-prev) * t * t
		prev = e
		if ea == e {
			i++
		}
		if eb == e {
			j++
		}
	}
	return acc / (float64(m) * float64(n))
}
