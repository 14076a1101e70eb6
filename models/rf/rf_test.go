package rf

import (
	"math"
	"testing"

	"genmod/models"
	"genmod/solver"
)

// gaussianVelocity is the exact rectified-flow velocity E[z - x | x_t] for
// data x ~ N(mu, diag(s²)) and noise z ~ N(0, I) on the path x_t = (1-t)x + tz.
// Per dimension, (x_t, v) is jointly Gaussian with
//
//	E[x_t] = (1-t)μ,  Var(x_t) = (1-t)²s² + t²,  Cov(v, x_t) = t - (1-t)s²,  E[v] = -μ,
//
// so E[v | x_t] = -μ + (t - (1-t)s²) / ((1-t)²s² + t²) · (x_t - (1-t)μ).
func gaussianVelocity(mu, s []float64) solver.Field {
	d := len(mu)
	return func(x []float32, t float64, out []float32) error {
		for i := range x {
			m, s2 := mu[i%d], s[i%d]*s[i%d]
			gain := (t - (1-t)*s2) / ((1-t)*(1-t)*s2 + t*t)
			out[i] = float32(-m + gain*(float64(x[i])-(1-t)*m))
		}
		return nil
	}
}

// Sampling as the seed writes it (x ~ N(0, I) at t = 1, integrate to t = 0)
// with the exact velocity must reproduce the data's mean and standard deviation.
func TestExactVelocityTransportsNoiseToData(t *testing.T) {
	mu, s := []float64{1, -2}, []float64{0.5, 2}
	const n = 20000
	for _, c := range []struct {
		method solver.Method
		steps  int
	}{{solver.Euler, 50}, {solver.Heun, 20}, {solver.Euler, 200}} {
		x := models.Noise(n, 2, 7)
		if err := solver.Integrate(c.method, gaussianVelocity(mu, s), x, solver.UniformGrid(1, 0, c.steps), nil); err != nil {
			t.Fatal(err)
		}
		for d := 0; d < 2; d++ {
			var m, v float64
			for i := 0; i < n; i++ {
				m += float64(x[2*i+d])
			}
			m /= n
			for i := 0; i < n; i++ {
				v += (float64(x[2*i+d]) - m) * (float64(x[2*i+d]) - m)
			}
			sd := math.Sqrt(v / n)
			// Sampling error of the mean is s/sqrt(n) ~ 0.014 for s = 2.
			if math.Abs(m-mu[d]) > 0.05 || math.Abs(sd-s[d]) > 0.04*s[d] {
				t.Errorf("%s/%d steps, dim %d: mean %.3f sd %.3f, want %.3f and %.3f", c.method, c.steps, d, m, sd, mu[d], s[d])
			}
		}
	}
}
