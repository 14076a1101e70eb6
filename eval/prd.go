package eval

import "fmt"

// DefaultPRK is the neighbourhood size k that Kynkäänniemi et al. 2019
// recommend for PrecisionRecall.
const DefaultPRK = 3

// PrecisionRecall is the improved precision and recall of Kynkäänniemi et
// al. 2019 ("Improved precision and recall metric for assessing generative
// models"). Each set approximates its manifold by the union of balls around
// its points, each ball's radius being the distance to the point's k-th
// nearest neighbour in the same set (k = DefaultPRK = 3 in the paper):
//
//	precision = fraction of fake samples inside the real manifold
//	            (|f - r| <= radius_k(r) for some real r),
//	recall    = fraction of real samples inside the fake manifold
//	            (|r - f| <= radius_k(f) for some fake f).
//
// Precision measures sample quality (fakes land where data lives), recall
// coverage (every part of the data is produced). In practice the points are
// learned features (the paper uses VGG-16 embeddings); on 2-D toy data the
// raw coordinates serve. Each set needs more than k points; cost
// O((|real| + |fake|)² d), memory O(|real| + |fake|).
func PrecisionRecall(real, fake [][]float64, k int) (precision, recall float64, err error) {
	if k < 1 {
		return 0, 0, fmt.Errorf("eval.PrecisionRecall: k is %d, want >= 1 (the paper uses %d)", k, DefaultPRK)
	}
	dr, err := checkSet("PrecisionRecall", "real", real, k+1)
	if err != nil {
		return 0, 0, err
	}
	df, err := checkSet("PrecisionRecall", "fake", fake, k+1)
	if err != nil {
		return 0, 0, err
	}
	if dr != df {
		return 0, 0, fmt.Errorf("eval.PrecisionRecall: real has dimension %d, fake has dimension %d", dr, df)
	}
	realR := knnRadii2(real, k)
	fakeR := knnRadii2(fake, k)
	return coverage(fake, real, realR), coverage(real, fake, fakeR), nil
}

// knnRadii2 is, for each point of x, the squared distance to its k-th
// nearest other point of x.
func knnRadii2(x [][]float64, k int) []float64 {
	r := make([]float64, len(x))
	parallelFor(len(x), func(i int) {
		best := make([]float64, 0, k) // the k smallest so far, ascending
		for j, q := range x {
			if j == i {
				continue
			}
			d2 := sqDist(x[i], q)
			if len(best) == k && d2 >= best[k-1] {
				continue
			}
			if len(best) < k {
				best = append(best, d2)
			}
			p := len(best) - 1
			for p > 0 && best[p-1] > d2 {
				best[p] = best[p-1]
				p--
			}
			best[p] = d2
		}
		r[i] = best[k-1]
	})
	return r
}

// coverage is the fraction of the points q in qs that lie in some ball
// |q - c_j|² <= r2[j] around the centres cs.
func coverage(qs, cs [][]float64, r2 []float64) float64 {
	in := make([]float64, len(qs))
	parallelFor(len(qs), func(i int) {
		for j, c := range cs {
			if sqDist(qs[i], c) <= r2[j] {
				in[i] = 1
				return
			}
		}
	})
	return sum(in) / float64(len(qs))
}
