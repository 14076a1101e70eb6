package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestW2sq1D(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"equal sizes", []float64{0, 1, 2}, []float64{0, 1, 10}, 64.0 / 3},
		// F_a⁻¹ = 0 on [0,½), 1 on [½,1); F_b⁻¹ = 0, 1, 2 on thirds: the
		// gap² is 1 on [⅓,½) and on [⅔,1): 1/6 + 1/3.
		{"2 vs 3", []float64{0, 1}, []float64{0, 1, 2}, 0.5},
		{"duplicated", []float64{-1, 2, 5}, []float64{-1, -1, 2, 2, 5, 5}, 0},
		{"one vs many", []float64{1}, []float64{0, 2, 4}, (1 + 1 + 9) / 3.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := w2sq1D(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("W2² = %.15g, want %.15g", got, tc.want)
			}
			if got := w2sq1D(tc.b, tc.a); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("swapped: W2² = %.15g, want %.15g", got, tc.want)
			}
		})
	}
}

func TestSlicedW(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x2 := gaussSet(rng, 300, []float64{0, 0}, 1)
	x1 := gaussSet(rng, 300, []float64{0}, 1)
	y1 := gaussSet(rng, 300, []float64{2}, 0.5)
	x5 := gaussSet(rng, 300, make([]float64, 5), 1)
	s := []float64{3, 4}
	w1, err := W2(x1, y1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		x, y      [][]float64
		proj      int
		want, tol float64
	}{
		{"self", x2, x2, 50, 0, 1e-12},
		// Each 1-D projection of a translate is shifted by θ·s, so
		// W2²(θ) = (θ·s)² and SW2² = |s|² E cos² = |s|²/d.
		{"translate 2-D", x2, shift(x2, s), 4000, 5 / math.Sqrt(2), 0.02 * 5},
		{"translate 5-D", x5, shift(x5, []float64{1, 1, 1, 1, 1}), 4000, 1, 0.03},
		// In 1-D every direction is ±1: SW2 is the exact W2.
		{"1-D equals W2", x1, y1, 3, w1, 1e-12},
		{"1-D unequal sizes", [][]float64{{0}, {1}}, [][]float64{{0}, {1}, {2}}, 2, math.Sqrt(0.5), 1e-12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SlicedW(tc.x, tc.y, tc.proj, 1)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > tc.tol {
				t.Errorf("SlicedW = %.12g, want %.12g ± %g", got, tc.want, tc.tol)
			}
		})
	}
}

func TestSlicedWProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	x := gaussSet(rng, 400, []float64{0, 0, 0}, 1)
	y := gaussSet(rng, 250, []float64{1, 0, 0}, 2)
	a, _ := SlicedW(x, y, 100, 7)
	b, _ := SlicedW(x, y, 100, 7)
	if a != b {
		t.Errorf("same seed, different results: %v %v", a, b)
	}
	// Swapping the sets draws the same directions: exactly symmetric.
	if c, _ := SlicedW(y, x, 100, 7); c != a {
		t.Errorf("SlicedW(x,y) = %v, SlicedW(y,x) = %v", a, c)
	}
	// Projections are 1-Lipschitz: SW2 <= W2 (equal sizes).
	w, err := W2(x[:250], y)
	if err != nil {
		t.Fatal(err)
	}
	if sw, _ := SlicedW(x[:250], y, 200, 3); sw > w {
		t.Errorf("SlicedW %g > W2 %g", sw, w)
	}
}

func TestSlicedWErrors(t *testing.T) {
	ok := [][]float64{{0, 0}, {1, 1}}
	for _, tc := range []struct {
		name string
		x, y [][]float64
		proj int
		want string
	}{
		{"no projections", ok, ok, 0, "projections is 0"},
		{"empty", nil, ok, 10, "x has 0 points"},
		{"dims", ok, [][]float64{{1, 2, 3}}, 10, "dimension"},
		{"Inf", ok, [][]float64{{1, math.Inf(-1)}}, 10, "y[0][1] is -Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SlicedW(tc.x, tc.y, tc.proj, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
