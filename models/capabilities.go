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

// Distiller is implemented by models that can train a few-step student
// from a trained teacher. Distill returns the student model, whose Loss
// reads the teacher's weights from the scope "teacher" (the trainer loads
// them there, frozen, and starts the student from the same weights).
type Distiller interface {
	Distill(o DistillOptions) (Model, error)
}
