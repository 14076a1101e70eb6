package models

// LogProber is implemented by models with an exact, tractable density, such
// as normalizing flows. LogProb returns log p(x) in nats for n rows of x,
// each row being one example of the model's data dimension (len(x) must be
// n·DataInfo.Dim(), in the model's data space, i.e. after the run's data
// transform). It reads the weights of rt.Scope().
type LogProber interface {
	LogProb(rt *Runtime, x []float32, n int) ([]float64, error)
}

// Bounds are per-example lower bounds on log p(x), in nats.
type Bounds struct {
	// ELBO is the evidence lower bound E_q[log p(x,z) − log q(z|x)],
	// estimated by the mean of log w over the K samples (w = p(x,z)/q(z|x)).
	ELBO []float64
	// IWAE is the importance-weighted bound log (1/K) Σ_k w_k of Burda et
	// al. (2016): ELBO ≤ IWAE_K ≤ log p(x), tightening as K grows.
	IWAE []float64
	K    int
}

// BoundEstimator is implemented by latent-variable models whose likelihood
// is intractable (VAEs): Bounds estimates the ELBO and the IWAE-K bound of
// n rows of x (model data space) from K posterior samples per row, drawn
// from seed. Large K (5000) is batched internally.
type BoundEstimator interface {
	Bounds(rt *Runtime, x []float32, n, k int, seed int64) (*Bounds, error)
}

// Codec is implemented by models that map data to a latent code and back:
// Encode maps n rows of x (model data space) to n latents, Decode maps n
// latents to data. For normalizing flows it is the exact bijection z =
// f⁻¹(x) and latents have Dim values; for VAEs Encode is the posterior mean
// and Decode the decoder's mean, and latents have LatentDim values.
type Codec interface {
	Encode(rt *Runtime, x []float32, n int) ([]float32, error)
	Decode(rt *Runtime, z []float32, n int) ([]float32, error)
}

// LatentSizer is implemented by Codecs whose latents are not the size of
// the data (VAEs).
type LatentSizer interface {
	LatentDim() int
}

// LatentDim is the number of values per latent of a Codec: LatentDim() when
// m implements LatentSizer, else the data's dimension.
func LatentDim(m Model, info DataInfo) int {
	if l, ok := m.(LatentSizer); ok {
		return l.LatentDim()
	}
	return info.Dim()
}

// DistillOptions choose how a student learns from a teacher of the same
// architecture (see Distiller).
type DistillOptions struct {
	Method       string // "reflow" or "progressive"
	Steps        int    // sampling steps of the student
	TeacherSteps int    // reflow: teacher ODE steps per pair; progressive: teacher steps per student step
}

// TeacherScope is the variable scope holding a distillation run's frozen teacher.
const TeacherScope = "teacher"

// RunUser is implemented by models that run another trained model's code,
// frozen (a two-stage model's first stage). A run that uses other runs
// (runs.Config.Uses, by scope) calls UseRun once per used run, before any
// graph is built, with that run's model and data; the model then reads
// the used model's weights under scope (scope.At(scope) ... from its root),
// where the trainer loads them, not trainable. Models that only read a
// used run's weights with their own code (a distillation student) need not
// implement it.
type RunUser interface {
	UseRun(scope string, m Model, info DataInfo) error
}

// Distiller is implemented by models that can train a few-step student
// from a trained teacher. Distill returns the student model, whose Loss
// reads the teacher's weights from the scope "teacher" (the trainer loads
// them there, frozen, and starts the student from the same weights).
type Distiller interface {
	Distill(o DistillOptions) (Model, error)
}

// PixelBoundOptions tune a PixelBounder's bound.
type PixelBoundOptions struct {
	// Pixels is the range of the model's pixel space, where the 256 pixel
	// values lie evenly from Lo to Hi (the zero Range: [-1, 1]).
	Pixels   Range
	Seed     int64
	Progress func(done, total int)
}

// PixelBound is an upper bound on −log P(x) of 8-bit images, the discrete
// likelihood of the 256 pixel values, in bits/dim.
type PixelBound struct {
	BitsPerDim []float64   // per image
	Parts      []BoundPart // the bound's terms, means over the images; they add up to the mean
}

// BoundPart is one term of a bound: its name (e.g. "L_T") and mean in bits/dim.
type BoundPart struct {
	Name       string
	BitsPerDim float64
}

// PixelBounder is implemented by models with a variational bound on the
// discrete likelihood of 8-bit images (DDPM's L_T + Σ L_{t−1} + L_0).
// PixelBoundError says why this configuration of the model has none (nil
// when it has one); PixelBound computes it for n images x, 8-bit values
// in the model's pixel space, not dequantized.
type PixelBounder interface {
	PixelBoundError() error
	PixelBound(rt *Runtime, x []float32, n int, o PixelBoundOptions) (*PixelBound, error)
}

// Capabilities names the capability interfaces m implements, for listings
// (genmod models, the server): "sample", "logprob" (exact likelihood),
// "bounds" (ELBO/IWAE), "pixel-bound" (a bound on 8-bit images), "codec",
// "conditional" (trained with labels), "distill" and "own-step" (a
// training step of several phases).
func Capabilities(m Model) []string {
	var out []string
	if _, ok := m.(Sampler); ok {
		out = append(out, "sample")
	}
	if _, ok := m.(LogProber); ok {
		out = append(out, "logprob")
	}
	if _, ok := m.(BoundEstimator); ok {
		out = append(out, "bounds")
	}
	if pb, ok := m.(PixelBounder); ok && pb.PixelBoundError() == nil {
		out = append(out, "pixel-bound")
	}
	if _, ok := m.(Codec); ok {
		out = append(out, "codec")
	}
	if c, ok := m.(Conditional); ok && c.NumClasses() > 0 {
		out = append(out, "conditional")
	}
	if _, ok := m.(Distiller); ok {
		out = append(out, "distill")
	}
	if _, ok := m.(Stepper); ok {
		out = append(out, "own-step")
	}
	return out
}
