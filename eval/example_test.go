package eval_test

import (
	"fmt"

	"genmod/eval"
)

// Two small 2-D sets: y is the unit square x moved by (1, 1), except that
// its last corner moved by (3, 3). W2 finds the best one-to-one matching,
// here the translation (squared costs 2, 2, 2, 18: W2 = √6); MMD compares
// the sets through Gaussian kernels, here at the median-heuristic
// bandwidths.
func Example() {
	x := [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}}
	y := [][]float64{{1, 1}, {2, 1}, {1, 2}, {4, 4}}

	w, err := eval.W2(x, y)
	if err != nil {
		panic(err)
	}
	self, _ := eval.W2(x, x)
	fmt.Printf("W2(x, y) = %.4f, W2(x, x) = %.4f\n", w, self)

	bw, err := eval.DefaultBandwidths(x, y)
	if err != nil {
		panic(err)
	}
	mmd, err := eval.MMD(x, y, bw)
	if err != nil {
		panic(err)
	}
	fmt.Printf("bandwidths %.3f, MMD² = %.4f\n", bw, mmd)
	// Output:
	// W2(x, y) = 2.4495, W2(x, x) = 0.0000
	// bandwidths [0.707 1.414 2.828], MMD² = 0.4286
}
