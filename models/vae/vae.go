// Package vae is the variational autoencoder of seed 002 ("Variational
// Autoencoders (VAEs)") and its importance-weighted bound (Burda et al.
// 2016). A decoder p(x|z) turns z ~ p(z) = N(0, I) into a distribution over
// data; an encoder q(z|x) = N(μ(x), diag σ²(x)) stands in for the
// intractable posterior, and both are trained on a lower bound of log p(x):
//
//	log p(x) ≥ E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))                 (ELBO)
//	log p(x) ≥ E[log (1/K) Σ_k p(x, z_k)/q(z_k|x)],  z_k ~ q(z|x)  (IWAE_K)
//
// with z = μ + σ·ε, ε ~ N(0, I) (the reparameterization trick) so the
// gradient flows into the encoder. The KL of two Gaussians is in closed
// form; β ≠ 1 weighs it (β-VAE, Higgins et al. 2017).
//
// Registered models: "vae" (trained on the ELBO, β-weighted) and "iwae"
// (trained on the IWAE_K bound, K = 5 by default); --layers F adds F planar
// flows to the posterior (see posterior). Both are MLPs on
// flattened data (vectors or images), with a Bernoulli decoder on binarized
// images (--binarize) and a Gaussian decoder with a learned per-dimension
// scale otherwise. Each is a models.Model, Sampler (the decoder's mean at
// z ~ N(0, T²I)) and BoundEstimator (ELBO and IWAE_K of test data, which
// genmod eval reports as the VAE's likelihood, with K up to 5000).
package vae

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/models/flow"
	"genmod/nn"
)

const family = "latent variable"

func init() {
	for _, e := range []struct{ name, desc string }{
		{"vae", "VAE (Kingma & Welling): Gaussian encoder q(z|x), Bernoulli (binarized images) or Gaussian decoder, MLPs; trained on the ELBO with the KL weighted by beta (β-VAE)"},
		{"iwae", "IWAE (Burda et al.): the same VAE trained on the K-sample importance-weighted bound (k, default 5), tighter than the ELBO"},
	} {
		kind := e.name
		models.Register(models.Entry{
			Name: kind, Family: family, Description: e.desc,
			Options: Options{}, SampleOptions: models.TemperatureOptions{},
			New: models.Typed(func(o Options, info models.DataInfo) (models.Model, error) { return New(kind, o, info) }),
		})
	}
}

// Decoder output distributions.
const (
	Bernoulli = "bernoulli" // logits; data in {0, 1} (binarized images)
	Gaussian  = "gaussian"  // mean and a learned per-dimension log-scale
)

// Defaults.
const (
	DefaultLatent = 50 // Burda et al.'s one-stochastic-layer MNIST models
	DefaultIWAEK  = 5
)

// DefaultHidden are the encoder's widths (the decoder mirrors them): the two
// 200-unit layers of Burda et al.'s one-stochastic-layer models.
var DefaultHidden = []int{200, 200}

// Config builds a VAE; New fills it from models.Options.
type Config struct {
	// Hidden are the encoder's MLP widths; the decoder uses them reversed.
	// nil means DefaultHidden; an empty non-nil slice makes both linear
	// (a probabilistic-PCA-like model whose log p(x) is exact; tests).
	Hidden  []int
	Latent  int     // latent dimension (0: DefaultLatent, or the data dimension if smaller)
	Beta    float64 // KL weight of the ELBO (0: 1)
	K       int     // importance samples in the training bound (0: 1 for vae, DefaultIWAEK for iwae)
	Decoder string  // Bernoulli or Gaussian ("" = Bernoulli on binary data, else Gaussian)
	// Flows is the number of planar flow layers applied to the posterior
	// sample (0 = a plain Gaussian posterior); see posterior.
	Flows int
}

// Options are the VAEs' training options (models.Entry.Options); 0 or
// empty means the default.
type Options struct {
	Net     string  `json:"net" help:"mlp, the only network of these VAEs (for checking)"`
	Hidden  []int   `json:"hidden" help:"encoder and decoder MLP hidden widths"`
	Latent  int     `json:"latent" help:"latent dimension (0 = 50, or the data dimension if smaller)"`
	Beta    float64 `json:"beta" help:"weight of the KL term of the ELBO (β-VAE; 0 = 1)"`
	K       int     `json:"k" help:"importance samples per example in the training bound (0 = 1 for vae, 5 for iwae)"`
	Decoder string  `json:"decoder" help:"output distribution p(x|z): bernoulli or gaussian (default: bernoulli on binarized images, else gaussian)"`
	Layers  int     `json:"layers" help:"planar flows in the posterior q(z|x) (0 = none)"`
}

// Model is a VAE over vectors or images (flattened).
type Model struct {
	info models.DataInfo
	kind string
	cfg  Config
}

// New builds the named model ("vae" or "iwae") for the data.
func New(kind string, o Options, info models.DataInfo) (*Model, error) {
	if o.Net != "" && o.Net != "mlp" {
		return nil, fmt.Errorf("net %q does not apply to %s (it uses MLPs)", o.Net, kind)
	}
	return NewConfig(kind, Config{Hidden: o.Hidden, Latent: o.Latent, Beta: o.Beta, K: o.K, Decoder: o.Decoder, Flows: o.Layers}, info)
}

// NewConfig builds a VAE from an explicit Config.
func NewConfig(kind string, c Config, info models.DataInfo) (*Model, error) {
	d := info.Dim()
	if d < 1 || (len(info.Shape) != 1 && !info.IsImage()) {
		return nil, fmt.Errorf("%s needs vectors [D] or images [H,W,C], got shape %v", kind, info.Shape)
	}
	if c.Hidden == nil {
		c.Hidden = DefaultHidden
	}
	for _, h := range c.Hidden {
		if h < 1 {
			return nil, fmt.Errorf("hidden widths must be >= 1, got %v", c.Hidden)
		}
	}
	if c.Latent < 0 {
		return nil, fmt.Errorf("latent must be >= 1 (0 = default), got %d", c.Latent)
	}
	if c.Latent == 0 {
		c.Latent = min(DefaultLatent, d)
	}
	if c.Beta < 0 || math.IsNaN(c.Beta) || math.IsInf(c.Beta, 0) {
		return nil, fmt.Errorf("beta must be > 0 (0 = 1), got %g", c.Beta)
	}
	if c.Beta == 0 {
		c.Beta = 1
	}
	if c.Flows < 0 {
		return nil, fmt.Errorf("layers (posterior flows) must be >= 0, got %d", c.Flows)
	}
	if c.K < 0 {
		return nil, fmt.Errorf("k must be >= 1 (0 = default), got %d", c.K)
	}
	switch kind {
	case "vae":
		if c.K == 0 {
			c.K = 1
		}
		if c.K > 1 && c.Beta != 1 {
			return nil, fmt.Errorf("beta weighs the KL term of the single-sample ELBO; with k = %d use beta 1 (or model iwae)", c.K)
		}
	case "iwae":
		if c.K == 0 {
			c.K = DefaultIWAEK
		}
		if c.Beta != 1 {
			return nil, fmt.Errorf("beta does not apply to iwae: its bound has no separate KL term")
		}
	default:
		return nil, fmt.Errorf("unknown VAE kind %q (want vae or iwae)", kind)
	}
	switch c.Decoder {
	case "":
		c.Decoder = Gaussian
		if info.Binary {
			c.Decoder = Bernoulli
		}
	case Bernoulli:
		if !info.Binary {
			return nil, fmt.Errorf("the bernoulli decoder needs 0/1 data: binarize the images (binarize: static or dynamic), or use the gaussian decoder")
		}
	case Gaussian:
	default:
		return nil, fmt.Errorf("unknown decoder %q (want %s or %s)", c.Decoder, Bernoulli, Gaussian)
	}
	return &Model{info: info, kind: kind, cfg: c}, nil
}

// Config returns the resolved configuration (defaults filled in).
func (m *Model) Config() Config { return m.cfg }

// Latent is the latent dimension.
func (m *Model) Latent() int { return m.cfg.Latent }

// encode returns the posterior's mean and log-variance, [B, L] each, for x [B, D].
func (m *Model) encode(scope *model.Scope, x *Node) (mu, logVar *Node) {
	h := nn.MLP(scope.In("encoder"), x, m.cfg.Hidden, 2*m.cfg.Latent)
	l := m.cfg.Latent
	return Slice(h, AxisRange(), AxisRange(0, l)), Slice(h, AxisRange(), AxisRange(l, 2*l))
}

// decode returns the decoder's parameters for z [N, L]: Bernoulli logits or
// the Gaussian mean, [N, D].
func (m *Model) decode(scope *model.Scope, z *Node) *Node {
	hidden := make([]int, len(m.cfg.Hidden))
	for i, h := range m.cfg.Hidden {
		hidden[len(hidden)-1-i] = h
	}
	return nn.MLP(scope.In("decoder"), z, hidden, m.info.Dim())
}

// logScale is the Gaussian decoder's per-dimension log σ, [D], starting at
// 0, in scope "output" (the decoder MLP's scope is entered once per graph).
func (m *Model) logScale(scope *model.Scope, g *Graph, dtype dtypes.DType) *Node {
	zero := func(g *Graph, s shapes.Shape) *Node { return Zeros(g, s) }
	v := scope.In("output").WithInitializer(zero).VariableWithShape("log_scale", shapes.Make(dtype, m.info.Dim()))
	return v.NodeValue(g)
}

// logLikelihood is log p(x|z) summed over dimensions: out [N, D] are the
// decoder's parameters, x [N, D] (or broadcastable) the data; result [N].
func (m *Model) logLikelihood(scope *model.Scope, out, x *Node) *Node {
	if m.cfg.Decoder == Bernoulli {
		// log p = x·l − softplus(l), the negative binary cross-entropy with logits.
		return ReduceSum(Sub(Mul(x, out), Softplus(out)), -1)
	}
	ls := ExpandLeftToRank(m.logScale(scope, out.Graph(), out.DType()), out.Rank())
	r := Div(Sub(x, out), Exp(ls))
	c := 0.5 * math.Log(2*math.Pi)
	return Neg(ReduceSum(AddScalar(Add(MulScalar(Square(r), 0.5), ls), c), -1))
}

// logNormal is log N(z; μ, diag exp(logVar)) summed over the last axis, in
// terms of the standardized ε = (z − μ)/σ.
func logNormal(eps, logVar *Node) *Node {
	c := 0.5 * math.Log(2*math.Pi)
	return Neg(ReduceSum(AddScalar(Add(MulScalar(Square(eps), 0.5), MulScalar(logVar, 0.5)), c), -1))
}

// posterior draws z ~ q(z|x) for standard noise eps [B, K, L] given the
// encoder's μ and log σ² [B, L], and returns z [B, K, L] and log q(z|x)
// [B, K]. With Flows > 0 the Gaussian sample z₀ = μ + σ·ε goes through
// planar flows, z = f_F∘…∘f_1(z₀), and log q(z|x) = log N(z₀; μ, σ²) −
// Σ_f log|det ∂f/∂z| (Rezende & Mohamed 2015, seed 003's "flow posterior").
// The flows' parameters are global variables, not outputs of the encoder
// as in the paper (normflows' VAE example does the same): a richer
// posterior family, but not an amortized one.
func (m *Model) posterior(scope *model.Scope, mu, logVar, eps *Node) (z, logQ *Node) {
	b, k, l := eps.Shape().Dimensions[0], eps.Shape().Dimensions[1], m.cfg.Latent
	lv3 := InsertAxes(logVar, 1)
	z = Add(InsertAxes(mu, 1), Mul(Exp(MulScalar(lv3, 0.5)), eps))
	logQ = logNormal(eps, lv3)
	if m.cfg.Flows == 0 {
		return z, logQ
	}
	flat := Reshape(z, b*k, l)
	ps := scope.In("posterior") // a scope may be entered once per graph
	for i := range m.cfg.Flows {
		var logDet *Node
		flat, logDet = flow.Planar{}.Forward(ps.In("planar_%d", i), flat)
		logQ = Sub(logQ, Reshape(logDet, b, k))
	}
	return Reshape(flat, b, k, l), logQ
}

// logWeights returns log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x) for
// x [B, D] and standard noise eps [B, K, L]: [B, K].
func (m *Model) logWeights(scope *model.Scope, x, eps *Node) *Node {
	b, k, l := eps.Shape().Dimensions[0], eps.Shape().Dimensions[1], m.cfg.Latent
	mu, logVar := m.encode(scope, x)
	z, logQ := m.posterior(scope, mu, logVar, eps)
	out := Reshape(m.decode(scope, Reshape(z, b*k, l)), b, k, m.info.Dim())
	logPx := m.logLikelihood(scope, out, InsertAxes(x, 1)) // [B, K]
	return Sub(Add(logPx, logNormal(z, ZerosLike(z))), logQ)
}

// logMeanExp is log (1/K) Σ_k exp(v_k) over the last axis, stably.
func logMeanExp(v *Node) *Node {
	k := v.Shape().Dimensions[v.Rank()-1]
	mx := StopGradient(ReduceAndKeep(v, ReduceMax, -1))
	s := ReduceSum(Exp(Sub(v, mx)), -1)
	return AddScalar(Add(Log(s), Squeeze(mx, -1)), -math.Log(float64(k)))
}

// Loss is the negative training bound in nats per dimension (so its scale
// matches the flows' loss): −ELBO with the KL in closed form and β-weighted
// when K = 1, −IWAE_K otherwise.
func (m *Model) Loss(scope *model.Scope, x, _ *Node) *Node {
	g := x.Graph()
	b, d, l := x.Shape().Dimensions[0], m.info.Dim(), m.cfg.Latent
	x = Reshape(x, b, d)
	var bound *Node
	switch {
	case m.cfg.K == 1 && m.cfg.Flows == 0:
		mu, logVar := m.encode(scope, x)
		eps := scope.RandomNormal(g, shapes.Make(x.DType(), b, l))
		z := Add(mu, Mul(Exp(MulScalar(logVar, 0.5)), eps))
		rec := m.logLikelihood(scope, m.decode(scope, z), x)
		// KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (μ² + σ² − 1 − log σ²).
		kl := MulScalar(ReduceSum(Sub(Add(Square(mu), Exp(logVar)), AddScalar(logVar, 1)), -1), 0.5)
		bound = Sub(rec, MulScalar(kl, m.cfg.Beta))
	case m.cfg.K == 1:
		// A flow posterior has no closed-form KL: one-sample estimate
		// log q(z|x) − log p(z), still β-weighted.
		mu, logVar := m.encode(scope, x)
		eps := scope.RandomNormal(g, shapes.Make(x.DType(), b, 1, l))
		z, logQ := m.posterior(scope, mu, logVar, eps)
		z = Reshape(z, b, l)
		rec := m.logLikelihood(scope, m.decode(scope, z), x)
		kl := Sub(Reshape(logQ, b), logNormal(z, ZerosLike(z)))
		bound = Sub(rec, MulScalar(kl, m.cfg.Beta))
	default:
		eps := scope.RandomNormal(g, shapes.Make(x.DType(), b, m.cfg.K, l))
		bound = logMeanExp(m.logWeights(scope, x, eps))
	}
	return DivScalar(Neg(ReduceAllMean(bound)), float64(d))
}

// mean is the decoder's mean E[x|z] for z [N, L]: sigmoid of the logits or
// the Gaussian mean.
func (m *Model) mean(scope *model.Scope, z *Node) *Node {
	out := m.decode(scope, z)
	if m.cfg.Decoder == Bernoulli {
		return Logistic(out)
	}
	return out
}
