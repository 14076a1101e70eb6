package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMMD(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	a := gaussSet(rng, 600, []float64{0, 0}, 1)
	b := gaussSet(rng, 600, []float64{0, 0}, 1)
	c := gaussSet(rng, 400, []float64{1, 0}, 1)
	wide := gaussSet(rng, 400, []float64{0, 0}, 2)
	bw, err := DefaultBandwidths(a, b)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		x, y     [][]float64
		min, max float64
	}{
		// Same distribution: the unbiased estimate is 0 in expectation with
		// a standard deviation of order 1/n (about 2e-3 here, three
		// kernels); different ones give about 0.2-0.25.
		{"same Gaussian", a, b, -0.01, 0.01},
		{"shifted mean", a, c, 0.1, math.Inf(1)},
		{"wider", a, wide, 0.1, math.Inf(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MMD(tc.x, tc.y, bw)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("MMD² = %.4g", got)
			if got < tc.min || got > tc.max {
				t.Errorf("MMD² = %g, want in [%g, %g]", got, tc.min, tc.max)
			}
			back, err := MMD(tc.y, tc.x, bw)
			if err != nil {
				t.Fatal(err)
			}
			if back != got {
				t.Errorf("not symmetric: MMD(x,y) = %.17g, MMD(y,x) = %.17g", got, back)
			}
		})
	}
}

// A hand-computable case: one kernel, two points per set. With
// x = {0, 1}, y = {0, 1} + 3 in 1-D and h = 1 (k = exp(-δ²/2)):
// Kxx = Kyy = 2e^{-1/2}/2, Kxy = (2e^{-9/2} + e^{-8} + e^{-2})/4.
func TestMMDHand(t *testing.T) {
	x := [][]float64{{0}, {1}}
	y := [][]float64{{3}, {4}}
	got, err := MMD(x, y, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	kxx := math.Exp(-0.5)
	kxy := (2*math.Exp(-4.5) + math.Exp(-8) + math.Exp(-2)) / 4
	if want := 2*kxx - 2*kxy; math.Abs(got-want) > 1e-15 {
		t.Errorf("MMD² = %.17g, want %.17g", got, want)
	}
	// A sum of kernels gives the sum of the single-kernel MMD²s.
	two, _ := MMD(x, y, []float64{1, 2})
	one2, _ := MMD(x, y, []float64{2})
	if math.Abs(two-(got+one2)) > 1e-15 {
		t.Errorf("MMD² with h={1,2} = %.17g, sum of singles %.17g", two, got+one2)
	}
}

func TestDefaultBandwidths(t *testing.T) {
	// Points on a line at 0, 1, 2, 3: distances 1,1,1,2,2,3; upper median 2.
	x := [][]float64{{0}, {1}}
	y := [][]float64{{2}, {3}}
	bw, err := DefaultBandwidths(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 2, 4}; bw[0] != want[0] || bw[1] != want[1] || bw[2] != want[2] {
		t.Errorf("bandwidths %v, want %v", bw, want)
	}
	// Large N(0, I_2) samples: |a-b| ~ Rayleigh(σ=√2), median √2·√(2 ln 2).
	rng := rand.New(rand.NewPCG(13, 14))
	a := gaussSet(rng, 3000, []float64{0, 0}, 1)
	b := gaussSet(rng, 3000, []float64{0, 0}, 1)
	bw, err = DefaultBandwidths(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt(2) * math.Sqrt(2*math.Ln2); math.Abs(bw[1]-want) > 0.05*want {
		t.Errorf("median distance %g, want about %g", bw[1], want)
	}
	if _, err := DefaultBandwidths([][]float64{{1}, {1}}, [][]float64{{1}}); err == nil {
		t.Error("identical points: want an error for a zero median")
	}
}

func TestMMDErrors(t *testing.T) {
	ok := [][]float64{{0, 0}, {1, 1}}
	tests := []struct {
		name string
		x, y [][]float64
		bw   []float64
		want string
	}{
		{"one point", [][]float64{{0, 0}}, ok, []float64{1}, "need at least 2"},
		{"dims", ok, [][]float64{{0}, {1}}, []float64{1}, "dimension"},
		{"NaN", ok, [][]float64{{0, 0}, {math.NaN(), 1}}, []float64{1}, "y[1][0] is NaN"},
		{"no bandwidth", ok, ok, nil, "no bandwidths"},
		{"zero bandwidth", ok, ok, []float64{1, 0}, "bandwidth 1 is 0"},
		{"NaN bandwidth", ok, ok, []float64{math.NaN()}, "bandwidth 0 is NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MMD(tc.x, tc.y, tc.bw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
