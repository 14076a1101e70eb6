package diffusion

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/solver"
)

// Samplers lists the sampler names every diffusion model accepts (sde only
// where a(t) > 0 on the whole path, i.e. not on the linear path).
func Samplers() []string {
	return []string{"ddpm", "ddim", "sde", "euler", "heun", "rk4", "rk45"}
}

// maxBatchValues bounds how many values go through the network at once:
// 500 28x28 images, or the whole request for small vectors (fewer, larger
// graph calls: each call has a fixed cost).
const maxBatchValues = 500 * 28 * 28

// maxBatch is the number of rows per network call for the model's data.
func (m *Model) maxBatch() int { return max(1, maxBatchValues/m.info.Dim()) }

// Plan is a validated sampling request: which sampler, on which time grid.
type Plan struct {
	Sampler  string
	Steps    int
	Eta      float64
	Variance solver.Variance
	Tol      solver.Tolerances
	Clip     models.Range // x̂ bounds of the ddpm and ddim samplers (empty: none)
}

// NewPlan checks a request against the model before any work starts.
func (m *Model) NewPlan(req models.SampleRequest) (Plan, error) {
	o, err := sampleOptions(req.Options)
	if err != nil {
		return Plan{}, err
	}
	if err := o.Validate(); err != nil {
		return Plan{}, err
	}
	p := Plan{Sampler: o.Sampler, Steps: o.Steps, Eta: o.Eta, Tol: solver.DefaultTolerances}
	if !o.NoClip {
		p.Clip = req.Clip
	}
	if p.Sampler == "" {
		p.Sampler = m.defaultSampler
	}
	if p.Sampler == "ode" {
		p.Sampler = "rk45"
	}
	if p.Steps == 0 {
		p.Steps = DefaultSteps
		if p.Sampler == "ddpm" && m.path.Steps() > 0 {
			p.Steps = m.path.Steps() // Algorithm 2 runs all T steps
		}
	}
	valid := false
	for _, s := range Samplers() {
		valid = valid || s == p.Sampler
	}
	switch {
	case !valid:
		return p, fmt.Errorf("unknown sampler %q (valid: %v, ode = rk45)", o.Sampler, Samplers())
	case p.Steps < 1:
		return p, fmt.Errorf("steps must be >= 1, got %d", p.Steps)
	case o.Eta != 0 && p.Sampler != "ddim":
		return p, fmt.Errorf("eta applies to the ddim sampler only (got sampler %s)", p.Sampler)
	case o.Variance != "" && p.Sampler != "ddpm":
		return p, fmt.Errorf("variance applies to the ddpm sampler only (got sampler %s)", p.Sampler)
	case (o.RTol != 0 || o.ATol != 0) && p.Sampler != "rk45":
		return p, fmt.Errorf("rtol/atol apply to the adaptive ode (rk45) sampler only (got sampler %s)", p.Sampler)
	case p.Sampler == "sde" && m.path.Name() == "linear":
		return p, fmt.Errorf("the sde sampler needs a(t) > 0, but the linear (rectified-flow) path has a(1) = 0; use ddim, ddpm, euler, heun, rk4 or rk45")
	case m.path.Steps() > 0 && (p.Sampler == "ddpm" || p.Sampler == "ddim") && p.Steps > m.path.Steps():
		return p, fmt.Errorf("%s sampling of a %d-step DDPM takes at most %d steps, got %d", p.Sampler, m.path.Steps(), m.path.Steps(), p.Steps)
	}
	if p.Variance, err = solver.ParseVariance(o.Variance); err != nil {
		return p, err
	}
	if o.RTol != 0 || o.ATol != 0 {
		if o.RTol <= 0 || o.ATol <= 0 {
			return p, fmt.Errorf("rtol and atol must both be > 0, got %g and %g", o.RTol, o.ATol)
		}
		p.Tol = solver.Tolerances{RTol: o.RTol, ATol: o.ATol}
	}
	return p, nil
}

// EvalTimes returns the times of the discrete samplers (ddpm, ddim): steps
// times from 1 down to the path's smallest time, on the DDPM grid for a
// discrete path, followed by 0.
func EvalTimes(p Path, steps int) []float64 {
	var ts []float64
	if T := p.Steps(); T > 0 {
		last := -1
		for k := 0; k < steps; k++ {
			i := T
			if steps > 1 {
				i = int(math.Round(float64(T) - float64(T-1)*float64(k)/float64(steps-1)))
			}
			if i != last {
				ts = append(ts, float64(i)/float64(T))
				last = i
			}
		}
	} else if p.TMin() > 0 {
		ts = solver.UniformGrid(1, p.TMin(), steps-1)
		if steps == 1 {
			ts = []float64{1}
		}
	} else {
		ts = solver.UniformGrid(1, 0, steps)[:steps]
	}
	return append(ts, 0)
}

// Run draws x_1 = b(1)·noise in place and carries it to data with the plan's
// sampler and the denoiser; it is the whole sampling algorithm, separate
// from the network so tests can plug in an exact denoiser.
func (p Plan) Run(path Path, d solver.Denoiser, x []float32, seed int64, progress func(done, total int)) error {
	_, b1, _, _ := path.Coefs(1)
	for i := range x {
		x[i] *= float32(b1)
	}
	tmin := path.TMin()
	if p.Clip.Hi > p.Clip.Lo && (p.Sampler == "ddim" || p.Sampler == "ddpm") {
		d = solver.ClipDenoiser(path, d, p.Clip.Lo, p.Clip.Hi)
	}
	switch p.Sampler {
	case "ddim":
		return solver.DDIM(path, d, x, EvalTimes(path, p.Steps), p.Eta, seed, progress)
	case "ddpm":
		return solver.Ancestral(path, d, x, EvalTimes(path, p.Steps), p.Variance, seed, progress)
	case "sde":
		if err := solver.ReverseSDE(path, d, x, solver.UniformGrid(1, tmin, p.Steps), seed, progress); err != nil {
			return err
		}
	case "rk45":
		if _, err := solver.IntegrateAdaptive(solver.ProbabilityFlow(path, d), x, 1, tmin, p.Tol, progress); err != nil {
			return err
		}
	default: // euler, heun, rk4 on the probability-flow ODE
		if err := solver.Integrate(solver.Method(p.Sampler), solver.ProbabilityFlow(path, d), x, solver.UniformGrid(1, tmin, p.Steps), progress); err != nil {
			return err
		}
	}
	if tmin > 0 {
		// Song et al.'s last denoising step: x ← E[x | x_tmin].
		xhat, zhat := make([]float32, len(x)), make([]float32, len(x))
		if err := d(x, tmin, xhat, zhat); err != nil {
			return err
		}
		copy(x, xhat)
	}
	return nil
}

// Sample draws N samples with the requested sampler (default: the model's).
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	plan, err := m.NewPlan(req)
	if err != nil {
		return nil, err
	}
	out, err := m.run(rt, req, func(d solver.Denoiser, x []float32, seed int64, progress func(int, int)) error {
		return plan.Run(m.path, d, x, seed, progress)
	})
	if err != nil {
		return nil, fmt.Errorf("sampling (%s, %d steps): %w", plan.Sampler, plan.Steps, err)
	}
	dim := m.info.Dim()
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("sampling (%s, %d steps) produced a non-finite value at sample %d: the model or the sampler diverged", plan.Sampler, plan.Steps, i/dim)
		}
	}
	return out, nil
}

// run draws N(0, I) noise for the request and hands each batch (at most
// maxBatch() rows) with the network's denoiser to algo, which transforms it in
// place into samples.
func (m *Model) run(rt *models.Runtime, req models.SampleRequest, algo func(d solver.Denoiser, x []float32, seed int64, progress func(int, int)) error) ([]float32, error) {
	o, err := sampleOptions(req.Options)
	if err != nil {
		return nil, err
	}
	if err := m.checkLabels(req, o.Guidance); err != nil {
		return nil, err
	}
	guided := o.Guidance != 0
	predict, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x, t, inScale, labels, w *Node) *Node {
		return m.Predict(rt.Scope(), x, t, inScale, labels, guided, w)
	})
	if err != nil {
		return nil, err
	}
	defer predict.Finalize()

	dim := m.info.Dim()
	out := models.Noise(req.N, dim, req.Seed)
	maxBatch := m.maxBatch()
	batches := (req.N + maxBatch - 1) / maxBatch
	for k, lo := 0, 0; lo < req.N; k, lo = k+1, lo+maxBatch {
		hi := min(lo+maxBatch, req.N)
		n := hi - lo
		shape := append([]int{n}, m.info.Shape...)
		labels := make([]int32, n)
		if req.Labels != nil {
			copy(labels, req.Labels[lo:hi])
		}
		lt := tensors.FromFlatDataAndDimensions(labels, n)
		pred := make([]float32, n*dim)
		denoise := func(x []float32, t float64, xhat, zhat []float32) error {
			res, err := predict.Exec(tensors.FromFlatDataAndDimensions(x, shape...), float32(t), float32(m.inputScale(t)), lt, float32(o.Guidance))
			if err != nil {
				return err
			}
			if err := res[0].ConstFlatData(func(flat any) { copy(pred, flat.([]float32)) }); err != nil {
				return err
			}
			a, b, da, db := m.path.Coefs(t)
			c, d := m.target.Coefs(a, b, da, db)
			SplitPrediction(x, pred, a, b, c, d, xhat, zhat)
			return nil
		}
		var progress func(int, int)
		if req.Progress != nil {
			progress = func(d, total int) {
				// Progress over all batches, in units of the sampler's own count.
				req.Progress(k*total+d, batches*total)
			}
		}
		if err := algo(denoise, out[lo*dim:hi*dim], req.Seed+int64(k), progress); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Straightness is Liu et al.'s S = ∫₀¹ E‖(x_1 − x_0) − v(x_t, t)‖² dt of the
// model's probability-flow ODE, per dimension, estimated on the Euler path
// with the given steps from req.N noise draws (x_1 = b(1)·z, x_0 the
// endpoint): 0 for straight paths, which one Euler step integrates exactly.
func (m *Model) Straightness(rt *models.Runtime, req models.SampleRequest, steps int) (float64, error) {
	if steps < 1 {
		return 0, fmt.Errorf("steps must be >= 1, got %d", steps)
	}
	var total float64
	_, err := m.run(rt, req, func(d solver.Denoiser, x []float32, _ int64, _ func(int, int)) error {
		_, b1, _, _ := m.path.Coefs(1)
		for i := range x {
			x[i] *= float32(b1)
		}
		x1 := append([]float32(nil), x...)
		ts := solver.UniformGrid(1, m.path.TMin(), steps)
		var vs [][]float32
		record := func(xs []float32, t float64, v []float32) error {
			if err := solver.ProbabilityFlow(m.path, d)(xs, t, v); err != nil {
				return err
			}
			vs = append(vs, append([]float32(nil), v...))
			return nil
		}
		if err := solver.Integrate(solver.Euler, record, x, ts, nil); err != nil {
			return err
		}
		span := 1 - m.path.TMin()
		for _, v := range vs {
			for i := range v {
				disp := (float64(x1[i]) - float64(x[i])) / span // the straight line's velocity
				e := disp - float64(v[i])
				total += e * e / float64(len(vs))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total / float64(req.N*m.info.Dim()), nil
}

// checkLabels validates the classes and guidance of a request.
func (m *Model) checkLabels(req models.SampleRequest, guidance float64) error {
	switch {
	case req.N < 1:
		return fmt.Errorf("need at least 1 sample, got %d", req.N)
	case req.Labels != nil && len(req.Labels) != req.N:
		return fmt.Errorf("got %d labels for %d samples", len(req.Labels), req.N)
	case m.numClasses > 0 && req.Labels == nil:
		return fmt.Errorf("this model is class-conditional: give a class for every sample")
	case m.numClasses == 0 && (req.Labels != nil || guidance != 0):
		return fmt.Errorf("this model is unconditional: classes and guidance do not apply")
	case guidance != 0 && m.labelDropout == 0:
		return fmt.Errorf("classifier-free guidance needs the null class, which this model never trained (label-dropout 0)")
	}
	for _, l := range req.Labels {
		if l < 0 || int(l) >= m.numClasses {
			return fmt.Errorf("class %d out of range [0, %d)", l, m.numClasses)
		}
	}
	return nil
}
