package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/solver"
)

// VLBOptions tune the DDPM variational bound.
type VLBOptions struct {
	// Terms is how many of the T−1 middle terms L_1..L_{T−1} to evaluate
	// (0 = all): a random subset scaled by (T−1)/Terms, an unbiased estimate.
	Terms    int
	Variance solver.Variance // reverse-step variance σ_t²: β̃_t (default) or β_t
	// Pixels is the range of the model's pixel space, where the 256 pixel
	// values lie evenly from Lo to Hi: [-1, 1] (the zero Range) or [0, 1]
	// for a run trained with --pixels unit.
	Pixels   models.Range
	Seed     int64
	Progress func(done, total int)
}

// VLB is the variational bound of seed 003 ("扩散模型") in bits/dim:
//
//	−log p(x_0) ≤ L_T + Σ_{t=2}^T L_{t−1} + L_0,
//	L_T     = KL(q(x_T | x_0) ‖ N(0, I)),
//	L_{t−1} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)),  x_t ~ q(x_t | x_0),
//	L_0     = −log p_θ(x_0 | x_1), a Gaussian N(x̂, β_1) integrated over each
//	          pixel's bin [x − 1/255, x + 1/255] in [-1, 1] (the edge bins
//	          open to ±∞); half as wide in [0, 1].
type VLB struct {
	BitsPerDim []float64 // per image
	// Mean contribution of each part, in bits/dim.
	Prior, Diffusion, Decoder float64
	Terms                     int // middle terms evaluated
}

// VLB bounds −log p(x) for n 8-bit images x in the model's pixel space
// o.Pixels (x = Lo + k·(Hi − Lo)/255, not dequantized). Only the discrete
// DDPM path has it.
// Conditional models are scored unconditionally (null class).
func (m *Model) VLB(rt *models.Runtime, x []float32, n int, o VLBOptions) (*VLB, error) {
	path, ok := m.path.(*DDPM)
	if !ok {
		return nil, fmt.Errorf("the variational bound is defined for the discrete ddpm path; this model uses the %s path (use the probability-flow likelihood)", m.path.Name())
	}
	if !m.info.IsImage() {
		return nil, fmt.Errorf("the variational bound in bits/dim needs 8-bit images; the data has shape %v", m.info.Shape)
	}
	dim := m.info.Dim()
	if n < 1 || len(x) != n*dim {
		return nil, fmt.Errorf("got %d values for %d images of %d", len(x), n, dim)
	}
	px := o.Pixels
	if px == (models.Range{}) {
		px = models.Range{Lo: -1, Hi: 1}
	}
	if !(px.Hi > px.Lo) {
		return nil, fmt.Errorf("pixel range [%g, %g] is empty", px.Lo, px.Hi)
	}
	for i, v := range x {
		k := (float64(v) - float64(px.Lo)) / float64(px.Hi-px.Lo) * 255
		if math.Abs(k-math.Round(k)) > 1e-3 || k < -1e-3 || k > 255.001 {
			return nil, fmt.Errorf("value %d (%g) is not an 8-bit pixel in [%g, %g]; the bound needs the test images without dequantization", i, v, px.Lo, px.Hi)
		}
	}
	variance := o.Variance
	if variance == "" {
		variance = solver.PosteriorVariance
	}
	T := path.Steps()
	terms := T - 1
	if o.Terms > 0 && o.Terms < terms {
		terms = o.Terms
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5851f42d4c957f2d))
	steps := make([]int, 0, terms+1)
	steps = append(steps, 1) // L_0 always
	for _, i := range rng.Perm(T - 1)[:terms] {
		steps = append(steps, i+2)
	}
	scale := float64(T-1) / float64(terms)

	predict, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, xt, t, labels *Node) *Node {
		return m.Predict(rt.Scope(), xt, t, OnesLike(t), labels, false, nil)
	})
	if err != nil {
		return nil, err
	}
	defer predict.Finalize()

	res := &VLB{BitsPerDim: make([]float64, n), Terms: terms}
	bits := 1 / (float64(dim) * math.Ln2)
	aT, bT, _, _ := path.Coefs(1)
	for i := 0; i < n*dim; i++ { // L_T
		x0 := float64(x[i])
		kl := 0.5 * (aT*aT*x0*x0 + bT*bT - 1 - math.Log(bT*bT))
		res.BitsPerDim[i/dim] += kl * bits
		res.Prior += kl * bits / float64(n)
	}
	const batch = 100
	done, total := 0, len(steps)*((n+batch-1)/batch)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		rows := hi - lo
		shape := append([]int{rows}, m.info.Shape...)
		labels := make([]int32, rows)
		for i := range labels {
			labels[i] = int32(m.numClasses) // the null class (unused when unconditional)
		}
		lt := tensors.FromFlatDataAndDimensions(labels, rows)
		x0 := x[lo*dim : hi*dim]
		xt, pred := make([]float32, len(x0)), make([]float32, len(x0))
		xhat, zhat := make([]float32, len(x0)), make([]float32, len(x0))
		for _, step := range steps {
			t := float64(step) / float64(T)
			a, b, da, db := path.Coefs(t)
			for i := range xt {
				xt[i] = float32(a*float64(x0[i]) + b*rng.NormFloat64())
			}
			out, err := predict.Exec(tensors.FromFlatDataAndDimensions(xt, shape...), float32(t), lt)
			if err != nil {
				return nil, err
			}
			if err := out[0].ConstFlatData(func(f any) { copy(pred, f.([]float32)) }); err != nil {
				return nil, err
			}
			c, d := m.target.Coefs(a, b, da, db)
			SplitPrediction(xt, pred, a, b, c, d, xhat, zhat)
			for i := range x0 {
				var nats float64
				if step == 1 {
					nats = -logBinProb(float64(x0[i]), float64(xhat[i]), math.Sqrt(path.Beta(1)), px)
					res.Decoder += nats * bits / float64(n)
				} else {
					nats = scale * klStep(path, step, float64(x0[i]), float64(xhat[i]), variance)
					res.Diffusion += nats * bits / float64(n)
				}
				res.BitsPerDim[lo+i/dim] += nats * bits
			}
			done++
			if o.Progress != nil {
				o.Progress(done, total)
			}
		}
	}
	return res, nil
}

// PixelBoundError says why the model has no variational bound on 8-bit
// images (nil when it has one): only the discrete ddpm path on images has it.
func (m *Model) PixelBoundError() error {
	if _, ok := m.path.(*DDPM); !ok {
		return fmt.Errorf("the variational bound needs the discrete ddpm path; this model uses the %s path (its likelihood is the probability-flow ODE's, metric nll)", m.path.Name())
	}
	if !m.info.IsImage() || m.info.Binary {
		return fmt.Errorf("the variational bound needs 8-bit images (not binarized); the data has shape %v", m.info.Shape)
	}
	return nil
}

// PixelBound is VLB as the models.PixelBounder capability: every term, the
// posterior variance β̃.
func (m *Model) PixelBound(rt *models.Runtime, x []float32, n int, o models.PixelBoundOptions) (*models.PixelBound, error) {
	res, err := m.VLB(rt, x, n, VLBOptions{Pixels: o.Pixels, Seed: o.Seed, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	return &models.PixelBound{BitsPerDim: res.BitsPerDim, Parts: []models.BoundPart{
		{Name: "L_T", BitsPerDim: res.Prior}, {Name: "Σ L_t-1", BitsPerDim: res.Diffusion}, {Name: "L_0", BitsPerDim: res.Decoder},
	}}, nil
}

var _ models.PixelBounder = (*Model)(nil)

// klStep is KL(q(x_{t−1} | x_t, x_0) ‖ N(μ̃(x_t, x̂), σ²)) for one value:
// both means share the x_t term, so they differ by coef·(x_0 − x̂) with
// coef = √ᾱ_{t−1}·β_t/(1 − ᾱ_t).
func klStep(p *DDPM, t int, x0, xhat float64, variance solver.Variance) float64 {
	abT, abS, beta := p.AlphaBar(t), p.AlphaBar(t-1), p.Beta(t)
	bTilde := (1 - abS) / (1 - abT) * beta
	coef := math.Sqrt(abS) * beta / (1 - abT)
	diff := coef * (x0 - xhat)
	s2 := bTilde
	if variance == solver.ForwardVariance {
		s2 = beta
	}
	return 0.5 * (math.Log(s2/bTilde) + bTilde/s2 - 1 + diff*diff/s2)
}

// logBinProb is log ∫ N(y; mean, sd²) dy over the bin of the 8-bit pixel x
// in [r.Lo, r.Hi]: [x − h, x + h] with h = (Hi − Lo)/510 (1/255 in [-1, 1]),
// open to −∞ at x = Lo and +∞ at x = Hi (Ho et al.'s discretized decoder),
// floored at 1e-12.
func logBinProb(x, mean, sd float64, r models.Range) float64 {
	lo64, hi64 := float64(r.Lo), float64(r.Hi)
	h := (hi64 - lo64) / 510
	lo, hi := (x-h-mean)/sd, (x+h-mean)/sd
	var p float64
	switch {
	case x < lo64+h/2:
		p = normCDF(hi)
	case x > hi64-h/2:
		p = normCDF(-lo)
	case lo > 0: // both edges in the upper tail: difference of survival functions
		p = normCDF(-lo) - normCDF(-hi)
	default:
		p = normCDF(hi) - normCDF(lo)
	}
	return math.Log(math.Max(p, 1e-12))
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
