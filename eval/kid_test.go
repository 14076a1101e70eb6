package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestKID(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	mean0 := make([]float64, 8)
	shifted := make([]float64, 8)
	for k := range shifted {
		shifted[k] = 0.5
	}
	a := gaussSet(rng, 1000, mean0, 1)
	b := gaussSet(rng, 1000, mean0, 1)
	c := gaussSet(rng, 600, shifted, 1)
	same, sameStd, err := KID(a, b, 20, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	diff, diffStd, err := KID(a, c, 20, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same: %.4g ± %.2g; shifted: %.4g ± %.2g", same, sameStd, diff, diffStd)
	if math.Abs(same) > 3*sameStd+1e-3 {
		t.Errorf("same distribution: KID %g ± %g, want about 0", same, sameStd)
	}
	if diff < 5*diffStd || diff < 0.3 {
		t.Errorf("shifted: KID %g ± %g, want clearly positive (same: %g)", diff, diffStd, same)
	}
	// Same seed, same subsets.
	again, _, _ := KID(a, c, 20, 300, 1)
	if again != diff {
		t.Errorf("same seed gave %v and %v", diff, again)
	}
}

// polyMMD against the kernel sums written out, on a subset equal to the
// whole (tiny) sets; the mean over any number of subsets is then that value
// and the std 0.
func TestKIDHand(t *testing.T) {
	x := [][]float64{{0, 1}, {1, 0}, {1, 1}}
	y := [][]float64{{2, 0}, {0, -1}, {1, 2}}
	k := func(p, q []float64) float64 {
		s := (p[0]*q[0]+p[1]*q[1])/2 + 1
		return s * s * s
	}
	var kxx, kyy, kxy float64
	for i := range 3 {
		for j := range 3 {
			if i != j {
				kxx += k(x[i], x[j])
				kyy += k(y[i], y[j])
			}
			kxy += k(x[i], y[j])
		}
	}
	want := (kxx+kyy)/6 - 2*kxy/9
	mean, std, err := KID(x, y, 4, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(mean-want) > 1e-12 || std > 1e-12 {
		t.Errorf("KID = %.15g ± %g, want %.15g ± 0", mean, std, want)
	}
}

func TestKIDErrors(t *testing.T) {
	ok := [][]float64{{0, 0}, {1, 1}, {2, 2}}
	for _, tc := range []struct {
		name        string
		x, y        [][]float64
		subsets, sz int
		want        string
	}{
		{"subset too big", ok, ok[:2], 3, 3, "subsetSize is 3, want 2..2"},
		{"subset too small", ok, ok, 3, 1, "subsetSize is 1"},
		{"no subsets", ok, ok, 0, 2, "subsets is 0"},
		{"dims", ok, [][]float64{{1}, {2}}, 1, 2, "dimension"},
		{"NaN", [][]float64{{0, 0}, {math.NaN(), 0}}, ok, 1, 2, "x[1][0] is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := KID(tc.x, tc.y, tc.subsets, tc.sz, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
