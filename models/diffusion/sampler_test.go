package diffusion

import (
	"fmt"
	"math"
	"testing"

	"genmod/models"
	"genmod/solver"
)

// testPaths are the four paths with their test-sized parameters.
func testPaths(t *testing.T) []Path {
	ddpm, err := NewDDPM("linear", DDPMSteps)
	if err != nil {
		t.Fatal(err)
	}
	cosine, err := NewDDPM("cosine", DDPMSteps)
	if err != nil {
		t.Fatal(err)
	}
	return []Path{ddpm, cosine, DefaultVP, VE{SigmaMin: 0.01, SigmaMax: 10}, Linear{}}
}

// gauss2 is a correlated 2D Gaussian with a non-zero mean.
func gauss2(t *testing.T) Gaussian {
	g, err := NewGaussian([]float64{1, -0.5}, []float64{0.5, 0.3, 0.3, 0.8})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// moments returns the mean and covariance (row-major) of n rows of 2D points.
func moments(x []float32, n int) (mean [2]float64, cov [4]float64) {
	for i := 0; i < n; i++ {
		mean[0] += float64(x[2*i]) / float64(n)
		mean[1] += float64(x[2*i+1]) / float64(n)
	}
	for i := 0; i < n; i++ {
		d0, d1 := float64(x[2*i])-mean[0], float64(x[2*i+1])-mean[1]
		cov[0] += d0 * d0 / float64(n)
		cov[1] += d0 * d1 / float64(n)
		cov[3] += d1 * d1 / float64(n)
	}
	cov[2] = cov[1]
	return
}

// checkGaussian fails when sample moments are further from (mean, cov) than
// tol (absolute; the data's scale is ~1).
func checkGaussian(t *testing.T, name string, x []float32, n int, mean []float64, cov []float64, tol float64) {
	t.Helper()
	m, c := moments(x, n)
	for i := 0; i < 2; i++ {
		if math.Abs(m[i]-mean[i]) > tol {
			t.Errorf("%s: mean[%d] = %.3f, want %.3f", name, i, m[i], mean[i])
		}
	}
	for i := 0; i < 4; i++ {
		if math.Abs(c[i]-cov[i]) > 2*tol {
			t.Errorf("%s: cov[%d] = %.3f, want %.3f", name, i, c[i], cov[i])
		}
	}
}

// With the exact denoiser of a Gaussian in place of a network, every sampler
// on every path must turn the prior into the data distribution.
func TestSamplersReproduceGaussian(t *testing.T) {
	g := gauss2(t)
	cov := []float64{0.5, 0.3, 0.3, 0.8}
	for _, path := range testPaths(t) {
		for _, c := range []struct {
			sampler string
			steps   int
			eta     float64
		}{
			{"ddpm", 1000, 0}, {"ddim", 50, 0}, {"ddim", 100, 1}, {"sde", 500, 0},
			{"euler", 200, 0}, {"heun", 40, 0}, {"rk4", 20, 0}, {"rk45", 0, 0},
		} {
			if c.sampler == "sde" && path.Name() == "linear" {
				continue
			}
			name := fmt.Sprintf("%s/%s/%d/eta=%g", path.Name(), c.sampler, c.steps, c.eta)
			t.Run(name, func(t *testing.T) {
				if testing.Short() && c.steps >= 500 {
					t.Skip("long chain")
				}
				n := 4000
				if c.steps >= 500 {
					n = 1500
				}
				plan := Plan{Sampler: c.sampler, Steps: c.steps, Eta: c.eta, Variance: solver.PosteriorVariance, Tol: solver.Tolerances{RTol: 1e-4, ATol: 1e-4}}
				x := models.Noise(n, 2, 3)
				if err := plan.Run(path, g.Denoiser(path), x, 9, nil); err != nil {
					t.Fatal(err)
				}
				// Standard error of a mean is ~0.9/sqrt(n) ≈ 0.023 at n = 1500.
				checkGaussian(t, name, x, n, g.Mean, cov, 0.08)
			})
		}
	}
}

// DDIM with η = 1 is ancestral sampling with the posterior variance: with
// the same noise they must give the same samples, not just the same law.
func TestDDIMEta1IsAncestral(t *testing.T) {
	g := gauss2(t)
	for _, path := range testPaths(t) {
		ts := EvalTimes(path, 30)
		x1, x2 := models.Noise(200, 2, 1), models.Noise(200, 2, 1)
		if err := solver.DDIM(path, g.Denoiser(path), x1, ts, 1, 5, nil); err != nil {
			t.Fatal(err)
		}
		if err := solver.Ancestral(path, g.Denoiser(path), x2, ts, solver.PosteriorVariance, 5, nil); err != nil {
			t.Fatal(err)
		}
		for i := range x1 {
			if math.Abs(float64(x1[i]-x2[i])) > 1e-3*(1+math.Abs(float64(x1[i]))) {
				t.Fatalf("%s: DDIM(η=1)[%d] = %g, ancestral = %g", path.Name(), i, x1[i], x2[i])
			}
		}
	}
}

// One ancestral step given the true x_0 draws from q(x_{t−1} | x_t, x_0),
// whose mean and variance seed 003 derives:
//
//	μ̃ = √ᾱ_{t−1}·β_t/(1−ᾱ_t)·x_0 + √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t)·x_t,   β̃ = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t.
func TestAncestralStepIsTheSeedPosterior(t *testing.T) {
	p, err := NewDDPM("linear", DDPMSteps)
	if err != nil {
		t.Fatal(err)
	}
	const x0, xt, n = 0.7, -0.3, 200000
	for _, i := range []int{2, 10, 500, 1000} {
		abT, abS, beta := p.AlphaBar(i), p.AlphaBar(i-1), p.Beta(i)
		wantMean := math.Sqrt(abS)*beta/(1-abT)*x0 + math.Sqrt(1-beta)*(1-abS)/(1-abT)*xt
		wantVar := (1 - abS) / (1 - abT) * beta
		x := make([]float32, n)
		for k := range x {
			x[k] = xt
		}
		exact := func(_ []float32, _ float64, xhat, zhat []float32) error {
			for k := range xhat {
				xhat[k] = x0
			}
			return nil
		}
		ts := []float64{float64(i) / DDPMSteps, float64(i-1) / DDPMSteps}
		if err := solver.Ancestral(p, exact, x, ts, solver.PosteriorVariance, 1, nil); err != nil {
			t.Fatal(err)
		}
		var m, v float64
		for _, s := range x {
			m += float64(s) / n
		}
		for _, s := range x {
			v += (float64(s) - m) * (float64(s) - m) / n
		}
		if math.Abs(m-wantMean) > 4*math.Sqrt(wantVar/n)+1e-5 || math.Abs(v/wantVar-1) > 0.02 {
			t.Errorf("step %d: mean %.6f var %.3g, want μ̃ = %.6f, β̃ = %.3g", i, m, v, wantMean, wantVar)
		}
	}
}

// The reverse SDE and the probability-flow ODE of the VP path must give the
// same marginal at every time, here t = 0.4, where it is N(a·μ, a²Σ + b²I).
func TestVPSDEAndODEShareMarginals(t *testing.T) {
	g := gauss2(t)
	path := DefaultVP
	const n, tEnd = 4000, 0.4
	a, b, _, _ := path.Coefs(tEnd)
	mean := []float64{a * g.Mean[0], a * g.Mean[1]}
	cov := []float64{a*a*0.5 + b*b, a * a * 0.3, a * a * 0.3, a*a*0.8 + b*b}
	xs := models.Noise(n, 2, 4)
	if err := solver.ReverseSDE(path, g.Denoiser(path), xs, solver.UniformGrid(1, tEnd, 400), 2, nil); err != nil {
		t.Fatal(err)
	}
	checkGaussian(t, "sde", xs, n, mean, cov, 0.06)
	xo := models.Noise(n, 2, 4)
	if _, err := solver.IntegrateAdaptive(solver.ProbabilityFlow(path, g.Denoiser(path)), xo, 1, tEnd, solver.Tolerances{RTol: 1e-5, ATol: 1e-5}, nil); err != nil {
		t.Fatal(err)
	}
	checkGaussian(t, "ode", xo, n, mean, cov, 0.06)
}
