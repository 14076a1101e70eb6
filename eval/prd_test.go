package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// modes draws n points around each of the given 2-D centres (σ = 0.5).
func modes(rng *rand.Rand, n int, centres ...[2]float64) [][]float64 {
	var out [][]float64
	for _, c := range centres {
		out = append(out, gaussSet(rng, n, c[:], 0.5)...)
	}
	return out
}

func TestPrecisionRecall(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	corners := [][2]float64{{-10, -10}, {-10, 10}, {10, -10}, {10, 10}}
	real := modes(rng, 250, corners...)
	tests := []struct {
		name               string
		fake               [][]float64
		precLo, precHi     float64
		recallLo, recallHi float64
	}{
		{"identical", real, 1, 1, 1, 1},
		{"same distribution", modes(rng, 250, corners...), 0.9, 1, 0.9, 1},
		{"far away", modes(rng, 250, [2]float64{100, 100}, [2]float64{-100, 50}), 0, 0, 0, 0},
		// Fakes on two of the four modes: all of good quality, half the
		// data covered.
		{"half the modes", modes(rng, 500, corners[0], corners[3]), 0.9, 1, 0.4, 0.6},
		// Fakes from all modes plus as many junk points: precision halves,
		// recall stays.
		{"half junk", append(modes(rng, 125, corners...), modes(rng, 500, [2]float64{0, 50})...), 0.4, 0.6, 0.85, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, r, err := PrecisionRecall(real, tc.fake, DefaultPRK)
			if err != nil {
				t.Fatal(err)
			}
			if p < tc.precLo || p > tc.precHi || r < tc.recallLo || r > tc.recallHi {
				t.Errorf("precision %.3f (want %.2f..%.2f), recall %.3f (want %.2f..%.2f)",
					p, tc.precLo, tc.precHi, r, tc.recallLo, tc.recallHi)
			}
			// Recall is precision with the roles swapped.
			p2, r2, _ := PrecisionRecall(tc.fake, real, DefaultPRK)
			if p2 != r || r2 != p {
				t.Errorf("swapping sets: (%v, %v), want (%v, %v)", p2, r2, r, p)
			}
		})
	}
}

// A hand-checked 1-D case with k = 1. Real {0, 1, 3}: radii 1, 1, 2.
// Fake {0.5, 2.5, 10, 11}: radii 2, 2, 1, 1.
// Precision: 0.5 (near 0), 2.5 (within 2 of 3) in, 10 and 11 out: 1/2.
// Recall: 0 and 1 within 2 of 0.5, 3 within 2 of 2.5: 3/3.
func TestPrecisionRecallHand(t *testing.T) {
	real := [][]float64{{0}, {1}, {3}}
	fake := [][]float64{{0.5}, {2.5}, {10}, {11}}
	p, r, err := PrecisionRecall(real, fake, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p != 0.5 || r != 1 {
		t.Errorf("precision %v recall %v, want 0.5 and 1", p, r)
	}
	if got := knnRadii2([][]float64{{0}, {1}, {3}, {7}}, 2); !equalFloats(got, []float64{9, 4, 9, 36}) {
		t.Errorf("2-NN squared radii %v, want [9 4 9 36]", got)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPrecisionRecallErrors(t *testing.T) {
	ok := [][]float64{{0}, {1}, {2}, {3}}
	for _, tc := range []struct {
		name       string
		real, fake [][]float64
		k          int
		want       string
	}{
		{"k=0", ok, ok, 0, "k is 0"},
		{"too few", ok, ok[:3], 3, "fake has 3 points, need at least 4"},
		{"dims", ok, [][]float64{{0, 1}, {1, 1}, {2, 2}, {3, 3}}, 3, "dimension"},
		{"NaN", [][]float64{{0}, {1}, {math.NaN()}, {3}}, ok, 1, "real[2][0] is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := PrecisionRecall(tc.real, tc.fake, tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
