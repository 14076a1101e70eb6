package diffusion

import (
	"math"
	"testing"

	"genmod/solver"
)

// The probability-flow ODE's change of variables must give the exact
// log-density of the Gaussian data at t = TMin.
func TestPFODELikelihoodIsExact(t *testing.T) {
	g := gauss2(t)
	pts := []float32{1, -0.5, 0.2, 0.4, 2.1, -1.7, -0.3, 0.9}
	for _, p := range testPaths(t) {
		x := append([]float32(nil), pts...)
		delta, _, err := solver.ChangeOfVariables(g.FieldDiv(p), x, 2, p.TMin(), 1, solver.Tolerances{RTol: 1e-6, ATol: 1e-6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range delta {
			prior, err := g.LogDensity(p, 1, []float64{float64(x[2*i]), float64(x[2*i+1])})
			if err != nil {
				t.Fatal(err)
			}
			want, err := g.LogDensity(p, p.TMin(), []float64{float64(pts[2*i]), float64(pts[2*i+1])})
			if err != nil {
				t.Fatal(err)
			}
			// The solver state is float32; DDPM's 1000 kinks (log ᾱ is piecewise
			// linear) take many steps, each adding rounding: 5e-3 nats.
			if got := prior + delta[i]; math.Abs(got-want) > 5e-3 {
				t.Errorf("%s point %d: log p = %.5f, exact %.5f", p.Name(), i, got, want)
			}
		}
	}
}
