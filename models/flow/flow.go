// Package flow is normalizing flows on vectors (data shape [D], e.g. 2D
// toys), after seeds 001 (NICE) and 003 ("流模型 (Normalizing Flow)"):
//
//	z ~ N(0, I),  x = f_K ∘ … ∘ f_1(z),
//	log p(x) = log N(f⁻¹(x); 0, I) + Σ_k log|det ∂f_k⁻¹/∂(·)|
//
// trained by maximum likelihood (Loss = −mean log p(x)). Layers: NICE's
// AdditiveCoupling and Scaling, RealNVP's AffineCoupling, MAF (MADE-based
// autoregressive affine), ReverseDims, and the Planar and Radial flows of
// Rezende & Mohamed (forward direction and log-det only: they have no
// closed-form inverse, so no registered model uses them).
//
// Registered models: "nice", "realnvp", "maf". Each is a models.Model, a
// models.Sampler and a models.LogProber.
package flow

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

const family = "normalizing flow"

func init() {
	models.Register(models.Entry{
		Name: "nice", Family: family,
		Description: "NICE: additive couplings with alternating halves + diagonal exp(s) scaling; exact log-likelihood",
		New:         func(o models.Options, info models.DataInfo) (models.Model, error) { return New("nice", o, info) },
	})
	models.Register(models.Entry{
		Name: "realnvp", Family: family,
		Description: "RealNVP: affine couplings x2·exp(s(x1))+t(x1) (s tanh-bounded) with alternating halves; exact log-likelihood",
		New:         func(o models.Options, info models.DataInfo) (models.Model, error) { return New("realnvp", o, info) },
	})
	models.Register(models.Entry{
		Name: "maf", Family: family,
		Description: "MAF: MADE autoregressive affine layers with reversed orders; one-pass density, D-pass sampling",
		New:         func(o models.Options, info models.DataInfo) (models.Model, error) { return New("maf", o, info) },
	})
}

// Default sizes.
const (
	DefaultCouplings = 6
	DefaultMAFLayers = 5
)

// DefaultHidden is the conditioner width when Options.Hidden is empty.
var DefaultHidden = []int{64, 64}

// Config builds a flow; New fills it from models.Options.
type Config struct {
	Kind   string // "nice", "realnvp" or "maf"
	Hidden []int
	Layers int     // couplings (nice, realnvp) or MAF layers; 0: default
	OutStd float64 // init std of the conditioners' last layers (0: 0.01)
}

// Model is a normalizing flow over [D] vectors.
type Model struct {
	info models.DataInfo
	flow Flow
}

// New builds the named flow for vector data.
func New(kind string, o models.Options, info models.DataInfo) (*Model, error) {
	return NewConfig(Config{Kind: kind, Hidden: o.Hidden}, o, info)
}

// NewConfig builds a flow from an explicit Config; o is checked for options
// a flow does not support.
func NewConfig(c Config, o models.Options, info models.DataInfo) (*Model, error) {
	if len(info.Shape) != 1 {
		return nil, fmt.Errorf("normalizing flows here need vector data of shape [D], got %v", info.Shape)
	}
	d := info.Dim()
	if o.Net != "" && o.Net != "mlp" {
		return nil, fmt.Errorf("net %q does not apply to normalizing flows (they use MLP conditioners)", o.Net)
	}
	// o.Conditional (on in the trainer's defaults) is ignored: these flows
	// are unconditional, and Sample rejects labels and guidance.
	hidden := c.Hidden
	if len(hidden) == 0 {
		hidden = DefaultHidden
	}
	for _, h := range hidden {
		if h < 1 {
			return nil, fmt.Errorf("hidden widths must be >= 1, got %v", hidden)
		}
	}
	hidden = append([]int(nil), hidden...)
	n := c.Layers
	var layers []Layer
	switch c.Kind {
	case "nice", "realnvp":
		if d < 2 {
			return nil, fmt.Errorf("%s needs data dimension >= 2 to split into halves, got %d", c.Kind, d)
		}
		if n == 0 {
			n = DefaultCouplings
		}
		for i := range n {
			if c.Kind == "nice" {
				layers = append(layers, AdditiveCoupling{Hidden: hidden, Parity: i, OutStd: c.OutStd})
			} else {
				layers = append(layers, AffineCoupling{Hidden: hidden, Parity: i, OutStd: c.OutStd})
			}
		}
		if c.Kind == "nice" {
			layers = append(layers, Scaling{})
		}
	case "maf":
		if n == 0 {
			n = DefaultMAFLayers
		}
		for i := range n {
			if i > 0 {
				layers = append(layers, ReverseDims{})
			}
			layers = append(layers, MAF{Hidden: hidden, OutStd: c.OutStd})
		}
	default:
		return nil, fmt.Errorf("unknown flow %q (valid: nice, realnvp, maf)", c.Kind)
	}
	if n < 1 {
		return nil, fmt.Errorf("need at least 1 layer, got %d", n)
	}
	return &Model{info: info, flow: Flow{Layers: layers}}, nil
}

// Flow is the model's flow; its variables live under "flow".
func (m *Model) Flow() Flow { return m.flow }

// LogProbGraph is log p(x) [B] for x [B, D], reading weights under scope/"flow".
func (m *Model) LogProbGraph(scope *model.Scope, x *Node) *Node {
	x = Reshape(x, x.Shape().Dimensions[0], m.info.Dim())
	return m.flow.LogProb(scope.At("flow"), x)
}

// SampleGraph maps noise z [B, D] to data.
func (m *Model) SampleGraph(scope *model.Scope, z *Node) *Node {
	return m.flow.Sample(scope.At("flow"), z)
}

// Loss is the negative log-likelihood −mean log p(x) in nats per example.
func (m *Model) Loss(scope *model.Scope, x, _ *Node) *Node {
	return Neg(ReduceAllMean(m.LogProbGraph(scope, x)))
}

// maxBatch bounds how many rows go through the graph at once.
const maxBatch = 1000

// Sample draws z ~ N(0, I) from req.Seed and maps it through the flow.
// Steps and Solver are ignored; labels and guidance are rejected.
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	if req.N < 1 {
		return nil, fmt.Errorf("need at least 1 sample, got n=%d", req.N)
	}
	if req.Labels != nil || req.Guidance != 0 {
		return nil, fmt.Errorf("normalizing flows here are unconditional: classes and guidance do not apply")
	}
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, z *Node) *Node {
		return m.SampleGraph(rt.Scope(), z)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	d := m.info.Dim()
	out := models.Noise(req.N, d, req.Seed)
	for lo := 0; lo < req.N; lo += maxBatch {
		hi := min(lo+maxBatch, req.N)
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(out[lo*d:hi*d], hi-lo, d))
		if err != nil {
			return nil, fmt.Errorf("sampling: %w", err)
		}
		if err := res[0].ConstFlatData(func(flat any) { copy(out[lo*d:hi*d], flat.([]float32)) }); err != nil {
			return nil, err
		}
		if req.Progress != nil {
			req.Progress(hi, req.N)
		}
	}
	return out, nil
}

// LogProb is the exact log p(x) in nats of n rows of x (len n·D).
func (m *Model) LogProb(rt *models.Runtime, x []float32, n int) ([]float64, error) {
	d := m.info.Dim()
	if n < 1 || len(x) != n*d {
		return nil, fmt.Errorf("LogProb: got %d values for %d rows of dimension %d", len(x), n, d)
	}
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x *Node) *Node {
		return ConvertDType(m.LogProbGraph(rt.Scope(), x), dtypes.Float64)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out := make([]float64, n)
	for lo := 0; lo < n; lo += maxBatch {
		hi := min(lo+maxBatch, n)
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x[lo*d:hi*d], hi-lo, d))
		if err != nil {
			return nil, fmt.Errorf("log-prob: %w", err)
		}
		if err := res[0].ConstFlatData(func(flat any) { copy(out[lo:hi], flat.([]float64)) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var (
	_ models.Model     = (*Model)(nil)
	_ models.Sampler   = (*Model)(nil)
	_ models.LogProber = (*Model)(nil)
)
