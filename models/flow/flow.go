// Package flow is normalizing flows on vectors ([D], e.g. 2D toys) and on
// images ([H,W,C]), after seeds 001 (NICE) and 003 ("流模型 (Normalizing
// Flow)"):
//
//	z ~ N(0, I),  x = f_K ∘ … ∘ f_1(z),
//	log p(x) = log N(f⁻¹(x); 0, I) + Σ_k log|det ∂f_k⁻¹/∂(·)|
//
// trained by maximum likelihood. Layers: NICE's AdditiveCoupling and
// Scaling, RealNVP's AffineCoupling (vectors) and ConvCoupling (images,
// checkerboard and channel masks) with Squeeze2x2, Glow's ActNorm
// (data-dependent init) and InvConv1x1 (LU-parameterized), MAF (MADE-based
// autoregressive affine), ReverseDims, and the Planar and Radial flows of
// Rezende & Mohamed (closed form in one direction, numerical inverse in the
// other; see planar.go for their two uses). Flow chains layers on vectors;
// MultiScale is the multi-scale image architecture (RealNVPImage,
// GlowImage).
//
// Registered models: "maf", "planar", "radial" (vectors), "nice" (vectors,
// or images flattened to vectors), "realnvp" and "glow" (vectors or
// multi-scale on images, chosen by the data's shape). Each is a
// models.Model, Sampler (with temperature), LogProber and Codec.
package flow

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
)

const family = "normalizing flow"

func init() {
	for _, e := range []struct{ name, desc string }{
		{"nice", "NICE: additive couplings with alternating halves + diagonal exp(s) scaling; vectors, or images flattened with even/odd pixel halves (MLP couplings)"},
		{"realnvp", "RealNVP: affine couplings, s tanh-bounded; vectors: MLP conditioners, alternating halves; images: multi-scale with checkerboard/channel masks and conv nets"},
		{"glow", "Glow: ActNorm (data-dependent init) + invertible 1x1 conv (LU) + affine coupling; images: multi-scale with K steps per level; vectors: the same steps with MLP couplings"},
		{"maf", "MAF: MADE autoregressive affine layers with reversed orders; vectors; one-pass density, D-pass sampling"},
		{"planar", "planar flows (Rezende & Mohamed) after a data-initialized ActNorm, used as z = f(x) with closed-form log-det, sampled by numerical inversion; vectors"},
		{"radial", "radial flows (Rezende & Mohamed) after a data-initialized ActNorm, used as z = f(x) with closed-form log-det, sampled by the closed-form inverse; vectors"},
	} {
		kind := e.name
		models.Register(models.Entry{
			Name: kind, Family: family, Description: e.desc,
			Options: Options{}, SampleOptions: models.TemperatureOptions{},
			New: models.Typed(func(o Options, info models.DataInfo) (models.Model, error) { return New(kind, o, info) }),
		})
	}
}

// Default sizes on vectors. Depth is what 2-D and tabular densities need
// most: at 5,000 steps (batch 128, lr 1e-3) realnvp on a 7-component
// anisotropic mixture came within 0.128 nats (KL) of the truth with 6
// couplings, 0.070 with 12, 0.067 with 16, while twice the width (0.121),
// a larger scale bound (4: worse), a larger batch or no EMA did not help
// (docs/EXPERIMENTS.md, "Default settings on 2-D data";
// experiments/density2d).
const (
	DefaultCouplings = 12 // nice, realnvp
	DefaultMAFLayers = 12
	DefaultPlanar    = 16 // planar or radial layers
	DefaultGlowSteps = 12 // glow steps (vectors)
)

// DefaultHidden is the conditioner width when Options.Hidden is empty.
var DefaultHidden = []int{64, 64}

// Image defaults, sized so that one training step at batch 64 on 28x28x1
// (Fashion-MNIST) stays under ~1.5 s on this project's 2-core machine
// (GOEXPERIMENT=simd, Go backend). Measured with BenchmarkImageFlowStep
// (bench_test.go), which also reports CPU seconds per step because the
// machine was shared while measuring.
var (
	// DefaultGlowImage: 2 levels (28x28x1 -> squeeze 14x14x4 -> split
	// 14x14x2 -> squeeze 7x7x8), 4 steps per level, coupling nets 64 wide:
	// 0.94 s per step on 2 otherwise idle cores (1.0 CPU-s per step).
	DefaultGlowImage = ImageDefaults{Steps: 4, Widths: []int{64, 64}}
	// DefaultRealNVPImage: 2 levels (3 checkerboard couplings at 28x28x1,
	// squeeze, 3 channel couplings at 14x14x4, split, 4 checkerboard
	// couplings at 14x14x2), nets 16 then 32 wide: 1.1 CPU-s per step
	// (checkerboard couplings at full resolution cost most: widths 32,64
	// took 2.0 CPU-s, 1.7 s wall on a lightly loaded machine).
	DefaultRealNVPImage = ImageDefaults{Steps: 3, Widths: []int{16, 32}}
)

// ImageDefaults are the default sizes of an image flow.
type ImageDefaults struct {
	Steps  int   // glow: steps per level; realnvp: couplings per group
	Widths []int // coupling conv width per level
}

// Options are the flows' training options (models.Entry.Options); 0 or
// empty means the default.
type Options struct {
	Net      string `json:"net" help:"mlp on vectors (and for nice on images), conv for realnvp and glow on images: the only choices, for checking"`
	Hidden   []int  `json:"hidden" help:"MLP conditioner widths (vectors), e.g. 64,64"`
	Channels []int  `json:"channels" help:"image flows: coupling conv widths per level (one value: every level)"`
	Levels   int    `json:"levels" help:"image flows (realnvp, glow): multi-scale levels (0 = 2, fewer if the image is too small; glow squeezes once per level, realnvp once between levels)"`
	Layers   int    `json:"layers" help:"layers (0 = default): couplings for nice and realnvp (12), glow steps (12), MAF layers (12), planar/radial layers (16); on images, steps per level for glow (4), couplings per group for realnvp (3), couplings for nice (4)"`
}

// Config builds a flow; New fills it from Options.
type Config struct {
	Kind   string // "nice", "realnvp", "glow", "maf", "planar" or "radial"
	Hidden []int  // MLP conditioner widths (vectors)
	// Layers is the number of couplings (nice, realnvp), MAF layers,
	// planar/radial layers or glow steps on vectors; on images, glow's steps
	// per level or realnvp's couplings per group. 0: default.
	Layers int
	OutStd float64 // init std of the vector conditioners' last layers (0: 0.01)

	// Images only.
	Levels  int     // scales; 0: DefaultLevels, or fewer if the image is too small
	Widths  []int   // coupling conv width per level (one value: every level); from Options.Channels
	InitStd float64 // > 0: couplings' last conv starts N(0, InitStd²), not at the identity (tests)
}

// Model is a normalizing flow over vectors or images.
type Model struct {
	info models.DataInfo
	kind string
	arch arch
}

// New builds the named flow for the data.
func New(kind string, o Options, info models.DataInfo) (*Model, error) {
	return NewConfig(Config{Kind: kind, Hidden: o.Hidden, Widths: o.Channels, Levels: o.Levels, Layers: o.Layers}, o, info)
}

// NewConfig builds a flow from an explicit Config; o is checked for options
// a flow does not support.
func NewConfig(c Config, o Options, info models.DataInfo) (*Model, error) {
	// These flows are unconditional: Sample rejects labels.
	if c.Layers < 0 {
		return nil, fmt.Errorf("layers must be >= 1 (0 = the default), got %d", c.Layers)
	}
	if c.Levels < 0 {
		return nil, fmt.Errorf("levels must be >= 1 (0 = the default), got %d", c.Levels)
	}
	switch {
	case info.IsImage():
		return newImage(c, o, info)
	case len(info.Shape) == 1:
		return newVector(c, o, info)
	}
	return nil, fmt.Errorf("normalizing flows need vectors [D] or images [H,W,C], got shape %v", info.Shape)
}

func newVector(c Config, o Options, info models.DataInfo) (*Model, error) {
	d := info.Dim()
	if o.Net != "" && o.Net != "mlp" {
		return nil, fmt.Errorf("net %q does not apply to normalizing flows on vectors (they use MLP conditioners)", o.Net)
	}
	if len(c.Widths) > 0 {
		return nil, fmt.Errorf("channels (conv widths) apply to image flows; on vectors set hidden")
	}
	if c.Levels != 0 {
		return nil, fmt.Errorf("levels (multi-scale levels) apply to image flows (realnvp, glow); this data holds vectors of shape %v: set layers instead", info.Shape)
	}
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
	case "nice", "realnvp", "glow":
		if d < 2 {
			return nil, fmt.Errorf("%s needs data dimension >= 2 to split into halves, got %d", c.Kind, d)
		}
	}
	switch c.Kind {
	case "nice", "realnvp":
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
	case "glow":
		// Data→noise: ActNorm, invertible dense (a 1x1 conv on a 1x1 image),
		// affine coupling; Flow lists layers noise→data, so build reversed.
		if n == 0 {
			n = DefaultGlowSteps
		}
		for i := n - 1; i >= 0; i-- {
			layers = append(layers,
				AffineCoupling{Hidden: hidden, Parity: i, OutStd: c.OutStd},
				InvConv1x1{Seed: uint64(i + 1)},
				ActNorm{})
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
	case "planar", "radial":
		// Closed-form maps on the data→noise side (Inverted), after an
		// ActNorm that standardizes the data (data-dependent init).
		if n == 0 {
			n = DefaultPlanar
		}
		for range n {
			if c.Kind == "planar" {
				layers = append(layers, Inverted{Planar{}})
			} else {
				layers = append(layers, Inverted{Radial{}})
			}
		}
		layers = append(layers, ActNorm{})
	default:
		return nil, fmt.Errorf("unknown flow %q (valid: nice, realnvp, glow, maf, planar, radial)", c.Kind)
	}
	return &Model{info: info, kind: c.Kind, arch: Flow{Layers: layers}}, nil
}

func newImage(c Config, o Options, info models.DataInfo) (*Model, error) {
	var def ImageDefaults
	switch c.Kind {
	case "realnvp":
		def = DefaultRealNVPImage
	case "glow":
		def = DefaultGlowImage
	case "nice":
		return newFlatImage(c, o, info)
	case "maf", "planar", "radial":
		return nil, fmt.Errorf("%s is a flow for vectors [D]; this data holds images of shape %v (use realnvp, glow or nice)", c.Kind, info.Shape)
	default:
		return nil, fmt.Errorf("unknown flow %q (valid: nice, realnvp, glow, maf, planar, radial)", c.Kind)
	}
	if o.Net != "" && o.Net != "conv" {
		return nil, fmt.Errorf("net %q does not apply to image flows (their couplings use conv nets)", o.Net)
	}
	if len(c.Hidden) > 0 {
		return nil, fmt.Errorf("hidden (MLP widths) applies to flows on vectors; for image flows set channels (conv width per level)")
	}
	h, w := info.Shape[0], info.Shape[1]
	squeezes := maxSqueezes(h, w)
	levels := c.Levels
	// realnvp squeezes levels−1 times, glow levels times.
	need := func(l int) int {
		if c.Kind == "glow" {
			return l
		}
		return l - 1
	}
	if levels == 0 {
		levels = DefaultLevels
		for levels > 1 && need(levels) > squeezes {
			levels--
		}
	}
	if levels < 1 {
		return nil, fmt.Errorf("levels must be >= 1, got %d", levels)
	}
	if need(levels) > squeezes {
		return nil, fmt.Errorf("%s with %d levels squeezes the %dx%d image %d times (2x2 each), but its sides allow %d", c.Kind, levels, h, w, need(levels), squeezes)
	}
	k := c.Layers
	if k == 0 {
		k = def.Steps
	}
	widths := c.Widths
	if len(widths) == 0 {
		widths = def.Widths
	}
	for _, v := range widths {
		if v < 1 {
			return nil, fmt.Errorf("channels (conv widths) must be >= 1, got %v", widths)
		}
	}
	widths = append([]int(nil), widths...)
	var m MultiScale
	if c.Kind == "glow" {
		m = GlowImage(info.Shape, levels, k, widths, c.InitStd)
	} else {
		m = RealNVPImage(info.Shape, levels, k, widths, c.InitStd)
	}
	if _, err := m.outShapes(); err != nil {
		return nil, err
	}
	return &Model{info: info, kind: c.Kind, arch: m}, nil
}

// Flow is the model's flow on vectors, or on flattened images (NICE); the
// zero Flow for multi-scale image models. Its variables live under "flow".
func (m *Model) Flow() Flow {
	switch a := m.arch.(type) {
	case Flow:
		return a
	case flatImage:
		return a.Flow
	}
	return Flow{}
}

// MultiScale is the model's image architecture (zero for vector models).
func (m *Model) MultiScale() MultiScale {
	ms, _ := m.arch.(MultiScale)
	return ms
}

// Info is the data the model was built for.
func (m *Model) Info() models.DataInfo { return m.info }

// batchShape reshapes flat rows [B, Dim] (or data [B, Shape...]) to [B, Shape...].
func (m *Model) batchShape(x *Node) *Node {
	return Reshape(x, append([]int{x.Shape().Dimensions[0]}, m.info.Shape...)...)
}

// EncodeGraph maps data x [B, Shape...] (or [B, Dim]) to z [B, Dim] and
// returns log|det ∂z/∂x| [B], summed in x's dtype. Weights under scope/"flow".
func (m *Model) EncodeGraph(scope *model.Scope, x *Node) (z, logdet *Node) {
	return m.arch.encode(scope.At("flow"), m.batchShape(x), pass{})
}

// DecodeGraph maps z [B, Dim] to data [B, Shape...].
func (m *Model) DecodeGraph(scope *model.Scope, z *Node) *Node {
	return m.arch.decode(scope.At("flow"), z, pass{})
}

// LogProbGraph is log p(x) [B] in nats for x [B, Shape...] (or [B, Dim]),
// in x's dtype (images: in the model's pixel space, e.g. [-1,1]).
func (m *Model) LogProbGraph(scope *model.Scope, x *Node) *Node {
	z, ld := m.EncodeGraph(scope, x)
	return Add(ld, StdNormalLogProb(z))
}

// logProb64 is log p(x) [B] with the log-dets and the base density summed
// in float64.
func (m *Model) logProb64(scope *model.Scope, x *Node, p pass) *Node {
	p.acc = dtypes.Float64
	z, ld := m.arch.encode(scope.At("flow"), m.batchShape(x), p)
	return Add(ld, StdNormalLogProb(ConvertDType(z, dtypes.Float64)))
}

// SampleGraph maps noise z [B, Dim] to data [B, Shape...].
func (m *Model) SampleGraph(scope *model.Scope, z *Node) *Node { return m.DecodeGraph(scope, z) }

// Loss is the negative log-likelihood: −mean log p(x) in nats per example
// for vectors, and in nats per dimension for images (−mean log p(x)/D,
// so that gradient clipping and learning rates do not depend on the image
// size; with 8-bit data dequantized in [-1,1], bits/dim = loss/ln 2 + 7,
// see eval.BitsPerDim).
func (m *Model) Loss(scope *model.Scope, x, _ *Node) *Node {
	nll := Neg(ReduceAllMean(m.LogProbGraph(scope, x)))
	if m.info.IsImage() {
		return DivScalar(nll, float64(m.info.Dim()))
	}
	return nll
}

var (
	_ models.Model     = (*Model)(nil)
	_ models.Sampler   = (*Model)(nil)
	_ models.LogProber = (*Model)(nil)
	_ models.Codec     = (*Model)(nil)
)

// DefaultNICEImage are NICE's sizes on images (Dinh et al. 2014, section
// 5.1, use 4 couplings of 5x1000 ReLU layers on MNIST): 4 couplings of
// three 1000-wide hidden layers, on the image flattened to a vector whose
// halves are the even and the odd pixels (Interleave).
var DefaultNICEImage = struct {
	Couplings int
	Hidden    []int
}{4, []int{1000, 1000, 1000}}

// newFlatImage is NICE on images: the image flattened to [H·W·C], its
// even and odd pixels split by Interleave, then additive couplings with
// alternating halves and the diagonal scaling, as in the NICE paper.
func newFlatImage(c Config, o Options, info models.DataInfo) (*Model, error) {
	if o.Net != "" && o.Net != "mlp" {
		return nil, fmt.Errorf("net %q does not apply to nice (its couplings use MLPs, also on images)", o.Net)
	}
	if len(c.Widths) > 0 || c.Levels != 0 {
		return nil, fmt.Errorf("channels and levels apply to the multi-scale image flows (realnvp, glow); nice flattens the image: set hidden and layers")
	}
	d := info.Dim()
	if d%2 != 0 {
		return nil, fmt.Errorf("nice on images splits even and odd pixels, so it needs an even number of values, got %v = %d", info.Shape, d)
	}
	if c.Layers == 0 {
		c.Layers = DefaultNICEImage.Couplings
	}
	if len(c.Hidden) == 0 {
		c.Hidden = DefaultNICEImage.Hidden
	}
	vec, err := newVector(c, o, models.DataInfo{Shape: []int{d}})
	if err != nil {
		return nil, err
	}
	f := vec.arch.(Flow)
	// Flow lists layers noise→data: Interleave goes last, so that it is
	// the first map applied to the data.
	f.Layers = append(f.Layers, Interleave{})
	return &Model{info: info, kind: c.Kind, arch: flatImage{Flow: f, shape: append([]int(nil), info.Shape...)}}, nil
}

// flatImage runs a vector Flow on images flattened to [B, H·W·C].
type flatImage struct {
	Flow
	shape []int
}

func (f flatImage) encode(scope *model.Scope, x *Node, p pass) (*Node, *Node) {
	return f.Flow.encode(scope, Reshape(x, x.Shape().Dimensions[0], -1), p)
}

func (f flatImage) decode(scope *model.Scope, z *Node, p pass) *Node {
	x := f.Flow.decode(scope, z, p)
	return Reshape(x, append([]int{x.Shape().Dimensions[0]}, f.shape...)...)
}
