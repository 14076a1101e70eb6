package diffusion

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"genmod/solver"
)

// Gaussian is data x ~ N(Mean, Cov). For it every diffusion quantity has a
// closed form, which makes it the oracle the samplers are tested against:
// x_t = a·x + b·z is N(a·μ, C) with C = a²Σ + b²I, and
//
//	E[x | x_t] = μ + a·Σ·C⁻¹(x_t − a·μ),   E[z | x_t] = b·C⁻¹(x_t − a·μ).
type Gaussian struct {
	Mean []float64
	Cov  *mat.SymDense
}

// NewGaussian checks that cov is a symmetric positive-definite D×D matrix
// (row-major) for the D-dimensional mean.
func NewGaussian(mean, cov []float64) (Gaussian, error) {
	d := len(mean)
	if len(cov) != d*d {
		return Gaussian{}, fmt.Errorf("covariance has %d values, want %d×%d", len(cov), d, d)
	}
	s := mat.NewSymDense(d, append([]float64(nil), cov...))
	var ch mat.Cholesky
	if !ch.Factorize(s) {
		return Gaussian{}, fmt.Errorf("covariance is not positive definite")
	}
	return Gaussian{Mean: append([]float64(nil), mean...), Cov: s}, nil
}

// marginal returns a, b and the Cholesky factor of C = a²Σ + b²I at t.
func (g Gaussian) marginal(p solver.Schedule, t float64) (a, b float64, ch *mat.Cholesky, err error) {
	a, b, _, _ = p.Coefs(t)
	d := len(g.Mean)
	c := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := a * a * g.Cov.At(i, j)
			if i == j {
				v += b * b
			}
			c.SetSym(i, j, v)
		}
	}
	ch = &mat.Cholesky{}
	if !ch.Factorize(c) {
		return 0, 0, nil, fmt.Errorf("marginal covariance at t=%g is singular", t)
	}
	return a, b, ch, nil
}

// Denoiser is the exact E[x | x_t], E[z | x_t] on path p, for rows of x.
func (g Gaussian) Denoiser(p solver.Schedule) solver.Denoiser {
	d := len(g.Mean)
	return func(x []float32, t float64, xhat, zhat []float32) error {
		a, b, ch, err := g.marginal(p, t)
		if err != nil {
			return err
		}
		r := mat.NewVecDense(d, nil)
		w := mat.NewVecDense(d, nil)
		sw := mat.NewVecDense(d, nil)
		for row := 0; row < len(x)/d; row++ {
			for i := 0; i < d; i++ {
				r.SetVec(i, float64(x[row*d+i])-a*g.Mean[i])
			}
			if err := ch.SolveVecTo(w, r); err != nil {
				return err
			}
			sw.MulVec(g.Cov, w)
			for i := 0; i < d; i++ {
				xhat[row*d+i] = float32(g.Mean[i] + a*sw.AtVec(i))
				zhat[row*d+i] = float32(b * w.AtVec(i))
			}
		}
		return nil
	}
}

// LogDensity returns log p_t(x_t) of one point under the path's marginal.
func (g Gaussian) LogDensity(p solver.Schedule, t float64, x []float64) (float64, error) {
	a, _, ch, err := g.marginal(p, t)
	if err != nil {
		return 0, err
	}
	d := len(g.Mean)
	r := mat.NewVecDense(d, nil)
	for i := range x {
		r.SetVec(i, x[i]-a*g.Mean[i])
	}
	w := mat.NewVecDense(d, nil)
	if err := ch.SolveVecTo(w, r); err != nil {
		return 0, err
	}
	return -0.5*mat.Dot(r, w) - 0.5*ch.LogDet() - 0.5*float64(d)*math.Log(2*math.Pi), nil
}

// FieldDiv is the exact probability-flow velocity v = a'·x̂ + b'·ẑ with its
// exact divergence tr(a'·a·Σ·C⁻¹ + b'·b·C⁻¹).
func (g Gaussian) FieldDiv(p solver.Schedule) solver.FieldDiv {
	flow := solver.ProbabilityFlow(p, g.Denoiser(p))
	d := len(g.Mean)
	return func(x []float32, t float64, v, div []float32) error {
		if err := flow(x, t, v); err != nil {
			return err
		}
		a, b, ch, err := g.marginal(p, t)
		if err != nil {
			return err
		}
		_, _, da, db := p.Coefs(t)
		var cinv mat.SymDense
		if err := ch.InverseTo(&cinv); err != nil {
			return err
		}
		var sc mat.Dense
		sc.Mul(g.Cov, &cinv)
		tr := 0.0
		for i := 0; i < d; i++ {
			tr += da*a*sc.At(i, i) + db*b*cinv.At(i, i)
		}
		for i := range div {
			div[i] = float32(tr)
		}
		return nil
	}
}
