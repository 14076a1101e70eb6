package solver

import (
	"fmt"
	"math"
)

// Tolerances bound the local error of the adaptive solver per component:
// |err_i| <= ATol + RTol·|x_i|.
type Tolerances struct {
	RTol, ATol float64
}

// DefaultTolerances are those of Song et al.'s score-SDE sampler (1e-5 each
// for likelihoods; 1e-3 is plenty for pictures).
var DefaultTolerances = Tolerances{RTol: 1e-5, ATol: 1e-5}

// Dormand–Prince 5(4) tableau (the RK45 of scipy's solve_ivp).
var (
	dpC = [7]float64{0, 1. / 5, 3. / 10, 4. / 5, 8. / 9, 1, 1}
	dpA = [7][6]float64{
		{},
		{1. / 5},
		{3. / 40, 9. / 40},
		{44. / 45, -56. / 15, 32. / 9},
		{19372. / 6561, -25360. / 2187, 64448. / 6561, -212. / 729},
		{9017. / 3168, -355. / 33, 46732. / 5247, 49. / 176, -5103. / 18656},
		{35. / 384, 0, 500. / 1113, 125. / 192, -2187. / 6784, 11. / 84},
	}
	// dpE is the difference between the 5th- and 4th-order weights.
	dpE = [7]float64{71. / 57600, 0, -71. / 16695, 71. / 1920, -17253. / 339200, 22. / 525, -1. / 40}
)

// maxAdaptiveSteps stops a solve whose step size collapsed.
const maxAdaptiveSteps = 100000

// IntegrateAdaptive advances x in place from t0 to t1 (either direction)
// with the adaptive Dormand–Prince RK45 method, choosing steps so the local
// error stays within tol. It returns the number of field evaluations.
// progress, if not nil, gets the fraction of [t0, t1] covered, in 1/1000s.
func IntegrateAdaptive(f Field, x []float32, t0, t1 float64, tol Tolerances, progress func(done, total int)) (int, error) {
	if tol.RTol <= 0 || tol.ATol <= 0 {
		return 0, fmt.Errorf("tolerances must be > 0, got rtol=%g atol=%g", tol.RTol, tol.ATol)
	}
	if t0 == t1 {
		return 0, nil
	}
	n := len(x)
	var k [7][]float32
	for i := range k {
		k[i] = make([]float32, n)
	}
	y := make([]float32, n)
	dir := math.Copysign(1, t1-t0)
	span := math.Abs(t1 - t0)
	h := dir * span / 100 // first guess; adapted below
	t, nfe := t0, 0
	if err := f(x, t, k[0]); err != nil {
		return nfe, fmt.Errorf("t=%.4g: %w", t, err)
	}
	nfe++
	for steps := 0; dir*(t1-t) > 1e-12*span; steps++ {
		if steps == maxAdaptiveSteps {
			return nfe, fmt.Errorf("adaptive solver took %d steps and reached only t=%.6g of [%g, %g]: the field is too stiff for rtol=%g atol=%g", steps, t, t0, t1, tol.RTol, tol.ATol)
		}
		if dir*(t+h-t1) > 0 {
			h = t1 - t
		}
		for s := 1; s < 7; s++ {
			for j := range y {
				acc := 0.0
				for r := 0; r < s; r++ {
					acc += dpA[s][r] * float64(k[r][j])
				}
				y[j] = x[j] + float32(h*acc)
			}
			if err := f(y, t+dpC[s]*h, k[s]); err != nil {
				return nfe, fmt.Errorf("t=%.4g: %w", t+dpC[s]*h, err)
			}
			nfe++
		}
		// y is now the 5th-order solution (row 6 of dpA holds its weights);
		// the error estimate is h·Σ e_s k_s.
		errNorm := 0.0
		for j := range y {
			e := 0.0
			for s := 0; s < 7; s++ {
				e += dpE[s] * float64(k[s][j])
			}
			scale := tol.ATol + tol.RTol*math.Max(math.Abs(float64(x[j])), math.Abs(float64(y[j])))
			r := h * e / scale
			errNorm += r * r
		}
		errNorm = math.Sqrt(errNorm / float64(n))
		if math.IsNaN(errNorm) {
			return nfe, fmt.Errorf("t=%.4g: the field returned NaN", t)
		}
		if errNorm <= 1 {
			t += h
			copy(x, y)
			k[0], k[6] = k[6], k[0] // first-same-as-last: k7 is f(t+h, y)
			if progress != nil {
				progress(int(1000*math.Abs(t-t0)/span), 1000)
			}
		}
		// Standard step-size control with safety factor 0.9, growth in [0.2, 10].
		factor := 10.0
		if errNorm > 0 {
			factor = math.Min(10, math.Max(0.2, 0.9*math.Pow(errNorm, -0.2)))
		}
		h *= factor
	}
	return nfe, nil
}

// FieldDiv evaluates the velocity v(x, t) of a batch of rows and the
// divergence ∇·v of each row (div has one value per row).
type FieldDiv func(x []float32, t float64, v, div []float32) error

// ChangeOfVariables integrates the instantaneous change of variables
// (Chen et al. 2018; Song et al. 2021, eq. 39) for rows of width dim:
//
//	dx/dt = v(x, t),   d/dt log p_t(x_t) = −∇·v(x_t, t),
//
// from t0 to t1 with the adaptive solver, leaving x at t1 and returning
// Δ_i = ∫ ∇·v dt for each row, so log p_t0(x(t0)) = log p_t1(x(t1)) + Δ.
func ChangeOfVariables(f FieldDiv, x []float32, dim int, t0, t1 float64, tol Tolerances, progress func(done, total int)) ([]float64, int, error) {
	if dim < 1 || len(x)%dim != 0 {
		return nil, 0, fmt.Errorf("%d values are not rows of width %d", len(x), dim)
	}
	n := len(x) / dim
	state := make([]float32, len(x)+n) // [x ; ∫div]
	copy(state, x)
	aug := func(s []float32, t float64, out []float32) error {
		return f(s[:len(x)], t, out[:len(x)], out[len(x):])
	}
	nfe, err := IntegrateAdaptive(aug, state, t0, t1, tol, progress)
	if err != nil {
		return nil, nfe, err
	}
	copy(x, state[:len(x)])
	delta := make([]float64, n)
	for i := range delta {
		delta[i] = float64(state[len(x)+i])
	}
	return delta, nfe, nil
}
