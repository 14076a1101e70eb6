// Package models is genmod's model registry and the small capability
// interfaces that the CLI, the evaluator and the server use instead of
// switching on model names. Each family lives in its own sub-package and
// registers itself in init; import genmod/models/all to get every family.
package models

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// DataInfo describes the data a model is built for.
type DataInfo struct {
	Shape      []int    // per-example shape: [H, W, C] for images, [D] for vectors
	NumClasses int      // 0 when the data has no labels
	ClassNames []string // optional, len NumClasses
	// Binary is set when the run binarizes its images (every value is 0
	// or 1, whatever the run's pixel range): likelihood models then use a
	// Bernoulli output.
	Binary bool `json:"-"`
}

// Dim is the number of values per example.
func (d DataInfo) Dim() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// IsImage reports whether examples are [H, W, C] images.
func (d DataInfo) IsImage() bool { return len(d.Shape) == 3 }

// Model is a trainable generative model. Its variables live under scopes it
// names itself below the scope it is given, so the trainer can keep an EMA
// copy under "/ema/..." and the same code reads either copy.
type Model interface {
	// Loss builds the scalar training loss for a batch x [B, Shape...] with
	// labels [B] int32 (all zeros when the data has no labels).
	Loss(scope *model.Scope, x, labels *graph.Node) *graph.Node
}

// Runtime is what a trained model needs to run graphs: the backend and the
// store holding its variables. Scope is the root the model reads weights
// from: the store root, or "/ema" for the averaged weights.
type Runtime struct {
	Backend compute.Backend
	Store   *model.Store
	Scope   func() *model.Scope
}

// SampleRequest asks a Sampler for N samples.
type SampleRequest struct {
	N        int
	Steps    int     // network evaluations / solver steps of iterative samplers (0 = model default)
	Sampler  string  // e.g. "ddpm", "ddim", "sde", "euler", "heun", "rk4", "rk45" ("" = model default)
	Labels   []int32 // len N class labels for conditional models; nil = unconditional
	Guidance float64 // classifier-free guidance weight w (0 = plain conditional)
	// Temperature scales the base noise (flows: z ~ N(0, T²I)); 0 means 1.
	Temperature float64
	// Eta is DDIM's η in [0, 1] (0 = deterministic, 1 = ancestral).
	Eta float64
	// Variance of ancestral (DDPM) steps: "posterior" (β̃, default) or "beta".
	Variance string
	// Clip, when Hi > Lo, is the range of the data: the samplers that step
	// through a prediction of the clean data (ddpm, ddim) keep it inside.
	Clip Range
	// RTol and ATol are the adaptive ODE solver's tolerances (0 = default).
	RTol, ATol float64
	Seed       int64
	Progress   func(done, total int) // optional
}

// Sampler draws samples. The result has N*Dim values in the model's data
// space (the space after the run's data transform, e.g. [-1, 1] images).
type Sampler interface {
	Sample(rt *Runtime, req SampleRequest) ([]float32, error)
}

// Conditional is implemented by models trained with class labels.
type Conditional interface {
	NumClasses() int
}

// Options are the model hyperparameters a user can set (flags and config
// keys share these names). Families read the fields that apply to them.
type Options struct {
	Net          string  `json:"net"`           // "mlp" or "unet" ("" = by data shape)
	Hidden       []int   `json:"hidden"`        // MLP hidden widths
	Channels     []int   `json:"channels"`      // U-Net channels per level
	TimeDim      int     `json:"time-dim"`      // time embedding width
	Conditional  bool    `json:"conditional"`   // condition on class labels when the data has them
	LabelDropout float64 `json:"label-dropout"` // probability of replacing the label by the null class (CFG training)
	TSampling    string  `json:"t-sampling"`    // "uniform" or "logit-normal"
	Target       string  `json:"target"`        // diffusion prediction target: "eps", "x", "v" or "flow" ("" = model default)
	Schedule     string  `json:"schedule"`      // DDPM noise schedule: "linear" or "cosine"
	// Normalizing flows (0 = the model's default; see flow.Config):
	// Levels is the number of multi-scale levels of image flows (realnvp,
	// glow); Layers the number of coupling/flow layers, or steps per level
	// for image flows.
	Levels int `json:"levels"`
	Layers int `json:"layers"`
	// Latent-variable models (VAE, IWAE): Latent is the latent dimension;
	// Beta weighs the KL term (β-VAE; 0 = 1); K is the number of importance
	// samples per example in the training bound (1 = the ELBO, > 1 = the
	// IWAE bound; 0 = the model's default); Decoder is the output
	// distribution p(x|z), "bernoulli" or "gaussian" ("" = bernoulli on
	// binarized images, gaussian otherwise).
	Latent  int     `json:"latent"`
	Beta    float64 `json:"beta"`
	K       int     `json:"k"`
	Decoder string  `json:"decoder"`
}

// Range is a closed interval [Lo, Hi]; the zero Range is empty (no bound).
type Range struct{ Lo, Hi float32 }

// Entry is one registered model.
type Entry struct {
	Name        string
	Family      string
	Description string
	New         func(opts Options, info DataInfo) (Model, error)
}

var (
	mu       sync.RWMutex
	registry = map[string]Entry{}
)

// Register adds a model; it panics on a duplicate name (a programming error at init).
func Register(e Entry) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[e.Name]; dup {
		panic("models: duplicate registration of " + e.Name)
	}
	registry[e.Name] = e
}

// List returns the registered models sorted by name.
func List() []Entry {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Entry, 0, len(registry))
	for _, e := range registry {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds a model by name; the error lists the valid names.
func Lookup(name string) (Entry, error) {
	mu.RLock()
	e, ok := registry[name]
	mu.RUnlock()
	if !ok {
		var names []string
		for _, e := range List() {
			names = append(names, e.Name)
		}
		return Entry{}, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(names, ", "))
	}
	return e, nil
}

// New builds the named model for the data.
func New(name string, opts Options, info DataInfo) (Model, error) {
	e, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	m, err := e.New(opts, info)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return m, nil
}
