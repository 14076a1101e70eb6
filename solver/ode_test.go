package solver

import (
	"math"
	"testing"
)

// dx/dt = -x has x(1) = x(0)·e^{-1}; halving the step must cut Euler's error
// by ~2 (first order), Heun's by ~4 (second order) and RK4's by ~16.
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
		steps int // coarse enough that float32 rounding stays below the error
	}{{Euler, 1, 20}, {Heun, 2, 20}, {RK4, 4, 4}} {
		ratio := errAt(c.m, c.steps) / errAt(c.m, 2*c.steps)
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

// The adaptive solver meets its tolerance on dx/dt = -x·t (x(t) = x0·e^{-t²/2}),
// forward and backward in time, and takes more steps for a tighter tolerance.
func TestAdaptive(t *testing.T) {
	field := func(x []float32, tt float64, out []float32) error {
		for i := range x {
			out[i] = -x[i] * float32(tt)
		}
		return nil
	}
	var prevNFE int
	for _, tol := range []float64{1e-3, 1e-6} {
		x := []float32{1, -2}
		nfe, err := IntegrateAdaptive(field, x, 0, 2, Tolerances{RTol: tol, ATol: tol}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := math.Exp(-2)
		if e := math.Abs(float64(x[0]) - want); e > 20*tol {
			t.Errorf("tol %g: x(2) = %.7f, want %.7f (error %.2g)", tol, x[0], want, e)
		}
		if nfe <= prevNFE {
			t.Errorf("tol %g took %d evaluations, no more than the looser tolerance's %d", tol, nfe, prevNFE)
		}
		prevNFE = nfe
		// Back from t=2 to t=0 recovers the start.
		if _, err := IntegrateAdaptive(field, x, 2, 0, Tolerances{RTol: 1e-6, ATol: 1e-6}, nil); err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(x[1])+2) > 50*tol+1e-5 { // forward error grows by e² on the way back
			t.Errorf("round trip gives %.6f, want -2", x[1])
		}
	}
	if _, err := IntegrateAdaptive(field, []float32{1}, 0, 1, Tolerances{}, nil); err == nil {
		t.Error("zero tolerance accepted")
	}
}
