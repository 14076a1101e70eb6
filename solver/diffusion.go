package solver

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Schedule is a Gaussian diffusion path x_t = a(t)·x + b(t)·z, z ~ N(0, I),
// with t in [0, 1] running from data (t = 0) to noise (t = 1): Coefs returns
// a, b and their time derivatives a', b' (seed 002, "Generalized Diffusion").
type Schedule interface {
	Coefs(t float64) (a, b, da, db float64)
}

// Denoiser predicts, for a batch x = x_t at time t, the data x̂ = E[x | x_t]
// and the noise ẑ = E[z | x_t] (so that x_t = a·x̂ + b·ẑ). A network trained
// with any target (ε, x, v, velocity) gives both; every sampler below uses
// only this, so each works with every model of the diffusion package.
type Denoiser func(x []float32, t float64, xhat, zhat []float32) error

// ClipDenoiser keeps the data prediction x̂ inside [lo, hi], the range of
// the data, as the reference DDPM and DDIM samplers do for images
// (clip_denoised): early in sampling an ε-network's x̂ = (x − b·ε̂)/a is
// divided by a tiny a, and unclipped it saturates whole images. ẑ is then
// recomputed as (x − a·x̂)/b so that x_t = a·x̂ + b·ẑ still holds (where
// b = 0, ẑ is kept).
func ClipDenoiser(s Schedule, d Denoiser, lo, hi float32) Denoiser {
	return func(x []float32, t float64, xhat, zhat []float32) error {
		if err := d(x, t, xhat, zhat); err != nil {
			return err
		}
		a, b, _, _ := s.Coefs(t)
		for i, v := range xhat {
			c := min(max(v, lo), hi)
			if c == v {
				continue
			}
			xhat[i] = c
			if b > 0 {
				zhat[i] = float32((float64(x[i]) - a*float64(c)) / b)
			}
		}
		return nil
	}
}

// ProbabilityFlow is the deterministic ODE whose marginals equal those of
// the diffusion (Song et al. 2021): dx/dt = f − ½g²∇log p_t, which for a
// Gaussian path reduces to the expected velocity of x_t = a·x + b·z,
//
//	v(x_t, t) = a'(t)·x̂ + b'(t)·ẑ.
//
// For the rectified-flow line (a = 1−t, b = t) this is v = ẑ − x̂.
func ProbabilityFlow(s Schedule, d Denoiser) Field {
	var xhat, zhat []float32
	return func(x []float32, t float64, out []float32) error {
		if len(xhat) != len(x) {
			xhat, zhat = make([]float32, len(x)), make([]float32, len(x))
		}
		if err := d(x, t, xhat, zhat); err != nil {
			return err
		}
		_, _, da, db := s.Coefs(t)
		for i := range out {
			out[i] = float32(da*float64(xhat[i]) + db*float64(zhat[i]))
		}
		return nil
	}
}

// Variance is the reverse-step variance of ancestral sampling.
type Variance string

const (
	// PosteriorVariance is β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t, the variance of
	// q(x_{t−1} | x_t, x_0) (optimal when x_0 is a point).
	PosteriorVariance Variance = "posterior"
	// ForwardVariance is β_t (optimal when x_0 ~ N(0, I)); DDPM reports
	// both give similar results.
	ForwardVariance Variance = "beta"
)

// ParseVariance validates a variance name ("" is the posterior variance).
func ParseVariance(name string) (Variance, error) {
	switch Variance(name) {
	case "", PosteriorVariance:
		return PosteriorVariance, nil
	case ForwardVariance:
		return ForwardVariance, nil
	}
	return "", fmt.Errorf("unknown variance %q (valid: %s, %s)", name, PosteriorVariance, ForwardVariance)
}

// transition returns, for a step from t down to s < t, the forward
// transition variance β_{t|s} = b_t² − (a_t/a_s)²·b_s² (β_t of DDPM for
// consecutive steps) and the posterior variance β̃ = b_s²/b_t²·β_{t|s}.
func transition(sch Schedule, t, s float64) (at, bt, as, bs, beta, betaTilde float64) {
	at, bt, _, _ = sch.Coefs(t)
	as, bs, _, _ = sch.Coefs(s)
	beta = bt*bt - (at/as)*(at/as)*bs*bs
	beta = math.Max(beta, 0)
	betaTilde = bs * bs / (bt * bt) * beta
	return
}

// checkGrid validates a decreasing time grid for the discrete samplers.
func checkGrid(ts []float64) error {
	if len(ts) < 2 {
		return fmt.Errorf("time grid needs at least 2 points, got %d", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if !(ts[i] < ts[i-1]) || ts[i] < 0 || ts[i-1] > 1 {
			return fmt.Errorf("time grid must decrease within [0, 1], got %g then %g", ts[i-1], ts[i])
		}
	}
	return nil
}

// normal returns a seeded N(0, 1) source.
func normal(seed int64) func() float32 {
	r := rand.New(rand.NewPCG(uint64(seed), 0x6a09e667f3bcc909))
	return func() float32 { return float32(r.NormFloat64()) }
}

// DDIM moves x from ts[0] down the grid ts with the DDIM update (Song, Meng
// and Ermon 2021, eq. 12, in the generalized frame):
//
//	x_s = a_s·x̂ + sqrt(b_s² − σ²)·ẑ + σ·ε,   σ² = η²·β̃_{t|s}.
//
// η = 0 is deterministic (and on the rectified-flow line equals an Euler step
// of the flow ODE); η = 1 is ancestral sampling with the posterior variance.
// The grid may be any decreasing sub-sequence of times; a final 0 returns x̂.
func DDIM(sch Schedule, d Denoiser, x []float32, ts []float64, eta float64, seed int64, progress func(done, total int)) error {
	if eta < 0 || eta > 1 || math.IsNaN(eta) {
		return fmt.Errorf("DDIM η must be in [0, 1], got %g", eta)
	}
	return reverseSteps(sch, d, x, ts, seed, progress, func(t, s float64, xt, xhat, zhat []float32, eps func() float32) {
		_, _, as, bs, _, bTilde := transition(sch, t, s)
		sigma2 := eta * eta * bTilde
		cz, sigma := math.Sqrt(math.Max(bs*bs-sigma2, 0)), math.Sqrt(sigma2)
		for i := range xt {
			v := as*float64(xhat[i]) + cz*float64(zhat[i])
			if sigma > 0 {
				v += sigma * float64(eps())
			}
			xt[i] = float32(v)
		}
	})
}

// Ancestral is DDPM sampling, Algorithm 2 of Ho et al. (seed 003): from
// x_t draw x_s ~ N(μ̃(x_t, x̂), σ²) with
//
//	μ̃ = a_s·β_{t|s}/b_t² · x̂ + (a_t/a_s)·b_s²/b_t² · x_t,   σ² = β̃_{t|s} or β_{t|s},
//
// which for consecutive DDPM steps is x_{t−1} = (x_t − β_t/√(1−ᾱ_t)·ε̂)/√α_t + σ_t·z.
// The last step to t = 0 uses β̃, which is 0 when b(0) = 0 (Algorithm 2's z = 0).
func Ancestral(sch Schedule, d Denoiser, x []float32, ts []float64, variance Variance, seed int64, progress func(done, total int)) error {
	if variance != PosteriorVariance && variance != ForwardVariance {
		return fmt.Errorf("unknown variance %q", variance)
	}
	return reverseSteps(sch, d, x, ts, seed, progress, func(t, s float64, xt, xhat, _ []float32, eps func() float32) {
		at, bt, as, bs, beta, bTilde := transition(sch, t, s)
		cx, ct := as*beta/(bt*bt), at/as*bs*bs/(bt*bt)
		sigma := math.Sqrt(bTilde)
		if variance == ForwardVariance {
			sigma = math.Sqrt(beta)
		}
		if s == 0 {
			sigma = math.Sqrt(bTilde) // Algorithm 2 adds no noise at the last step (β̃ = 0 when b(0) = 0)
		}
		for i := range xt {
			v := cx*float64(xhat[i]) + ct*float64(xt[i])
			if sigma > 0 {
				v += sigma * float64(eps())
			}
			xt[i] = float32(v)
		}
	})
}

// ReverseSDE integrates the reverse-time SDE of the path with Euler–Maruyama
// (Song et al. 2021): the forward SDE dx = f·x dt + g dw has f = a'/a and
// g² = 2bb' − 2(a'/a)b², the score is ∇log p_t = −ẑ/b, and each step back
// by |Δt| is
//
//	x ← x − [f·x + g²·ẑ/b]·|Δt| + g·sqrt(|Δt|)·ε.
//
// It needs a(t) > 0 on the grid (not the rectified-flow line at t = 1). Like
// Song et al., the caller usually ends with one denoising step x ← x̂.
func ReverseSDE(sch Schedule, d Denoiser, x []float32, ts []float64, seed int64, progress func(done, total int)) error {
	return reverseSteps(sch, d, x, ts, seed, progress, func(t, s float64, xt, _, zhat []float32, eps func() float32) {
		a, b, da, db := sch.Coefs(t)
		f := da / a
		g2 := math.Max(2*b*db-2*f*b*b, 0)
		dt := t - s
		g := math.Sqrt(g2 * dt)
		for i := range xt {
			v := float64(xt[i]) - (f*float64(xt[i])+g2*float64(zhat[i])/b)*dt
			if s > 0 {
				v += g * float64(eps())
			}
			xt[i] = float32(v)
		}
	})
}

// reverseSteps runs step(t, s, ...) for each pair of the grid after one
// denoiser evaluation at t, counting progress in evaluations.
func reverseSteps(sch Schedule, d Denoiser, x []float32, ts []float64, seed int64, progress func(done, total int),
	step func(t, s float64, xt, xhat, zhat []float32, eps func() float32)) error {
	if err := checkGrid(ts); err != nil {
		return err
	}
	xhat, zhat := make([]float32, len(x)), make([]float32, len(x))
	eps := normal(seed)
	n := len(ts) - 1
	for i := 0; i < n; i++ {
		t, s := ts[i], ts[i+1]
		if err := d(x, t, xhat, zhat); err != nil {
			return fmt.Errorf("step %d (t=%.4g): %w", i+1, t, err)
		}
		step(t, s, x, xhat, zhat, eps)
		if progress != nil {
			progress(i+1, n)
		}
	}
	return nil
}
