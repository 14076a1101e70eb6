package diffusion

import (
	"fmt"
	"math"
)

// Target is what the network regresses: y = c(t)·z + d(t)·x (seed 002,
// "Generalized Diffusion").
type Target string

const (
	// Eps is ε-prediction: y = z (c = 1, d = 0), DDPM's choice.
	Eps Target = "eps"
	// X is x-prediction: y = x (c = 0, d = 1).
	X Target = "x"
	// V is v-prediction (Salimans & Ho 2022): y = a·z − b·x (c = a, d = −b).
	// Seed 002 prints c = b, d = −a; with those, x and z cannot be recovered
	// where a·b = 0 (both ends of every path), so genmod follows the paper.
	V Target = "v"
	// Flow is the path's velocity y = dx_t/dt = b'·z + a'·x (c = b', d = a');
	// on the linear path this is rectified flow's v = z − x.
	Flow Target = "flow"
)

// Targets lists the valid target names.
func Targets() []string { return []string{string(Eps), string(X), string(V), string(Flow)} }

// ParseTarget validates a target name.
func ParseTarget(name string) (Target, error) {
	switch Target(name) {
	case Eps, X, V, Flow:
		return Target(name), nil
	}
	return "", fmt.Errorf("unknown target %q (valid: %v)", name, Targets())
}

// Coefs returns c and d of y = c·z + d·x for path coefficients a, b, a', b'.
func (tg Target) Coefs(a, b, da, db float64) (c, d float64) {
	switch tg {
	case Eps:
		return 1, 0
	case X:
		return 0, 1
	case V:
		return a, -b
	default: // Flow
		return db, da
	}
}

// SplitPrediction recovers x̂ and ẑ from x_t = a·x + b·z and a prediction y = c·z + d·x
// by solving the 2×2 system; the determinant a·c − b·d must not vanish.
func SplitPrediction(xt, y []float32, a, b, c, d float64, xhat, zhat []float32) {
	det := a*c - b*d
	for i := range xt {
		x, p := float64(xt[i]), float64(y[i])
		xhat[i] = float32((c*x - b*p) / det)
		zhat[i] = float32((a*p - d*x) / det)
	}
}

// checkInvertible reports where on [tmin, 1] the target cannot be turned
// back into x̂ and ẑ (e.g. ε-prediction on the linear path at t = 1, where
// x_t = z carries no information about x).
func checkInvertible(p Path, tg Target) error {
	for i := 0; i <= 1000; i++ {
		t := p.TMin() + (1-p.TMin())*float64(i)/1000
		a, b, da, db := p.Coefs(t)
		c, d := tg.Coefs(a, b, da, db)
		if math.Abs(a*c-b*d) < 1e-6 {
			return fmt.Errorf("target %s cannot recover the data on the %s path at t=%.3g (a·c − b·d = 0); use one of %v", tg, p.Name(), t, Targets())
		}
	}
	return nil
}
