package solver

import (
	"math"
	"testing"
)

// dx/dt = -x has x(1) = x(0)·e^{-1}; halving the step must cut Euler's error
// by ~2 (first order) and Heun's by ~4 (second order).
func TestConvergenceOrder(t *testing.T) {
	decay := func(x []float32, _ float64, out []float32) error {
		for i := range x {
			out[i] = -x[i]
		}
		return nil
	}
	errAt := func(m Method, steps int) float64 {
		x := []float32{1}
		if err := Integrate(m, decay, x, UniformGrid(0, 1, steps), nil); err != nil {
			t.Fatal(err)
		}
		return math.Abs(float64(x[0]) - math.Exp(-1))
	}
	for _, c := range []struct {
		m     Method
		order float64
	}{{Euler, 1}, {Heun, 2}} {
		ratio := errAt(c.m, 20) / errAt(c.m, 40)
		want := math.Pow(2, c.order)
		if math.Abs(ratio-want) > 0.25*want {
			t.Errorf("%s: error ratio %.3f when halving the step, want about %.0f", c.m, ratio, want)
		}
	}
}

func TestIntegrateBackwardInTime(t *testing.T) {
	// dx/dt = 1 integrated from t=1 to t=0 moves x by -1.
	one := func(x []float32, _ float64, out []float32) error {
		for i := range out {
			out[i] = 1
		}
		return nil
	}
	x := []float32{5}
	calls := 0
	if err := Integrate(Euler, one, x, UniformGrid(1, 0, 10), func(done, total int) { calls++ }); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(x[0])-4) > 1e-5 || calls != 10 {
		t.Fatalf("x = %v after %d progress calls, want 4 after 10", x[0], calls)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := ParseMethod("rk9"); err == nil {
		t.Error("unknown method accepted")
	}
	if err := Integrate(Euler, nil, nil, []float64{0}, nil); err == nil {
		t.Error("one-point grid accepted")
	}
}
