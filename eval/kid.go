package eval

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// KID is the kernel inception distance of Bińkowski et al. 2018
// ("Demystifying MMD GANs", section 4): the unbiased MMD² (see MMD) between
// feature sets a and b under the cubic polynomial kernel
//
//	k(x, y) = (x·y/d + 1)³,  d the feature dimension,
//
// averaged over `subsets` random subsets of subsetSize rows drawn without
// replacement from each set (same seed, same subsets). It returns the mean
// over the subsets and their standard deviation (population, 1/subsets, as
// torch-fidelity's kid_subset_std). The usual setting is 100 subsets of
// 1000; subsetSize must be between 2 and the size of the smaller set. Like
// every unbiased MMD², a subset's estimate can be slightly negative when
// the distributions match. Cost O(subsets · subsetSize² · d).
func KID(a, b [][]float64, subsets, subsetSize int, seed int64) (mean, std float64, err error) {
	d, err := checkPair("KID", a, b, 2, 2)
	if err != nil {
		return 0, 0, err
	}
	if subsets < 1 {
		return 0, 0, fmt.Errorf("eval.KID: subsets is %d, want >= 1", subsets)
	}
	if subsetSize < 2 || subsetSize > min(len(a), len(b)) {
		return 0, 0, fmt.Errorf("eval.KID: subsetSize is %d, want 2..%d (the smaller set: a has %d rows, b %d)",
			subsetSize, min(len(a), len(b)), len(a), len(b))
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4b1d))
	mmds := make([]float64, subsets)
	for s := range mmds {
		x := subsetMatrix(rng, a, subsetSize, d)
		y := subsetMatrix(rng, b, subsetSize, d)
		mmds[s] = polyMMD(x, y, d)
	}
	for _, v := range mmds {
		mean += v
	}
	mean /= float64(subsets)
	for _, v := range mmds {
		std += (v - mean) * (v - mean)
	}
	std = math.Sqrt(std / float64(subsets))
	return mean, std, nil
}

// subsetMatrix draws m distinct rows of x (a partial Fisher-Yates shuffle)
// into an m×d matrix.
func subsetMatrix(rng *rand.Rand, x [][]float64, m, d int) *mat.Dense {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	out := mat.NewDense(m, d, nil)
	for k := range m {
		r := k + rng.IntN(len(x)-k)
		idx[k], idx[r] = idx[r], idx[k]
		out.SetRow(k, x[idx[k]])
	}
	return out
}

// polyMMD is the unbiased MMD² of the rows of x and y (m each) under the
// cubic kernel (x·y/d + 1)³, from the three Gram matrices:
// [Σ_{i≠j} Kxx + Σ_{i≠j} Kyy]/(m(m-1)) - 2 Σ Kxy/m².
func polyMMD(x, y *mat.Dense, d int) float64 {
	m, _ := x.Dims()
	gramSum := func(p, q *mat.Dense, offDiag bool) float64 {
		var g mat.Dense
		g.Mul(p, q.T())
		var s float64
		for i := range m {
			for j, t := range g.RawRowView(i) {
				if offDiag && i == j {
					continue
				}
				k := t/float64(d) + 1
				s += k * k * k
			}
		}
		return s
	}
	fm := float64(m)
	return (gramSum(x, x, true)+gramSum(y, y, true))/(fm*(fm-1)) - 2*gramSum(x, y, false)/(fm*fm)
}
