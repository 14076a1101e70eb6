package gan

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn"
)

const family = "adversarial"

// Registered model names.
const (
	KindGAN    = "gan"
	KindDCGAN  = "dcgan"
	KindWGAN   = "wgan"
	KindWGANGP = "wgan-gp"
)

func init() {
	gan := func(kind string) func(o Options, info models.DataInfo) (models.Model, error) {
		return func(o Options, info models.DataInfo) (models.Model, error) {
			return NewConfig(Config{Kind: kind, Common: o.Common, GLoss: o.GLoss}, info)
		}
	}
	models.Register(models.Entry{
		Name: KindGAN, Family: family,
		Description: "GAN (Goodfellow et al. 2014): MLP generator and discriminator, minimax or non-saturating (default) generator loss, k D-steps per G-step; Adam(β1 0.5), lr 1e-3 on vectors, 2e-4 on images",
		Options:     DefaultOptions(),
		New:         models.Typed(gan(KindGAN)),
	})
	models.Register(models.Entry{
		Name: KindDCGAN, Family: family,
		Description: "DCGAN (Radford et al. 2016) for images: strided-conv discriminator, upsampling-conv generator (GroupNorm for BatchNorm); Adam(2e-4, β1 0.5)",
		Options:     DefaultDCGANOptions(),
		New:         models.Typed(gan(KindDCGAN)),
	})
	models.Register(models.Entry{
		Name: KindWGAN, Family: family,
		Description: "WGAN (Arjovsky et al. 2017): critic without sigmoid, weights clipped to [−c, c] (c 0.01), RMSProp(5e-5), 5 critic steps per G-step",
		Options:     DefaultWGANOptions(),
		New: models.Typed(func(o WGANOptions, info models.DataInfo) (models.Model, error) {
			return NewConfig(Config{Kind: KindWGAN, Common: o.Common, Clip: o.Clip}, info)
		}),
	})
	models.Register(models.Entry{
		Name: KindWGANGP, Family: family,
		Description: "WGAN-GP (Gulrajani et al. 2017): critic with the gradient penalty λ(‖∇D(x̂)‖−1)² (λ 10) on interpolates, Adam(β 0.5, 0.9) at 1e-4 on images (critic 1e-3, G 2e-4 on vectors), 5 critic steps per G-step",
		Options:     DefaultGPOptions(),
		New: models.Typed(func(o GPOptions, info models.DataInfo) (models.Model, error) {
			return NewConfig(Config{Kind: KindWGANGP, Common: o.Common, GP: o.GP}, info)
		}),
	})
}

// Default architecture sizes.
var (
	// DefaultHidden are the discriminator's MLP widths on vectors (the
	// generator uses them reversed).
	DefaultHidden = []int{256, 256, 256}
	// DefaultImageHidden are the MLP widths on images (gan's default net there).
	DefaultImageHidden = []int{512, 256}
	// DefaultChannels are the conv discriminator's widths after each
	// halving (28x28 -> 14x14x64 -> 7x7x128); the generator mirrors them.
	DefaultChannels = []int{64, 128}
)

const (
	defaultLatentVector = 16
	defaultLatentImage  = 100 // Radford et al.
)

// Each model's optimizers (Phase.Optimizer) as its paper gives them.
// Goodfellow et al. trained with SGD and momentum; gan uses DCGAN's Adam
// (β1 = 0.5) for both players, at Radford et al.'s 2e-4 on images and at
// 1e-3 on vectors, where 2e-4 was several times further from the data
// after 5,000 steps (8gaussians: sliced W1 7.6x the two-sample floor at
// 2e-4, 3.0x at 1e-3; moons 2.3x and 0.8x).
var (
	adamGAN       = models.Optimizer{Kind: "adam", LR: 2e-4, Beta1: 0.5, Beta2: 0.999, ClipNorm: -1} // Radford et al.
	adamGANVector = models.Optimizer{Kind: "adam", LR: 1e-3, Beta1: 0.5, Beta2: 0.999, ClipNorm: -1}
	// RMSProp as in Arjovsky et al.'s code (PyTorch's RMSprop, α = 0.99).
	rmsWGAN = models.Optimizer{Kind: "rmsprop", LR: 5e-5, Beta2: 0.99, ClipNorm: -1}
	adamGP  = models.Optimizer{Kind: "adam", LR: 1e-4, Beta1: 0.5, Beta2: 0.9, ClipNorm: -1} // Gulrajani et al.
	// On vectors wgan-gp's players get 1e-3 (critic) and 2e-4 (generator),
	// TTUR-style with the paper's betas: at the paper's 1e-4 (meant for
	// 100k+ iterations) 5,000 steps on moons left the samples at 15x the
	// two-sample floor in sliced W1, at these rates 2.9x.
	adamGPCriticVector    = models.Optimizer{Kind: "adam", LR: 1e-3, Beta1: 0.5, Beta2: 0.9, ClipNorm: -1}
	adamGPGeneratorVector = models.Optimizer{Kind: "adam", LR: 2e-4, Beta1: 0.5, Beta2: 0.9, ClipNorm: -1}
)

// Config is a GAN's resolved configuration.
type Config struct {
	Kind string // KindGAN, KindDCGAN, KindWGAN or KindWGANGP
	Common
	GLoss string  // gan, dcgan: Minimax or NonSaturating
	Clip  float64 // wgan: the clipping bound c
	GP    float64 // wgan-gp: the penalty weight λ
	// NumClasses is the number of classes G and D are conditioned on (0:
	// unconditional); set by NewConfig from the data and Conditional.
	NumClasses int
}

// Model is one of the package's GANs: a generator G (variables under
// "gen") and a discriminator or critic D (under "disc").
type Model struct {
	info models.DataInfo
	cfg  Config
}

// NewConfig checks c against the data, fills in the defaults and builds the model.
func NewConfig(c Config, info models.DataInfo) (*Model, error) {
	d := info.Dim()
	if d < 1 || (len(info.Shape) != 1 && !info.IsImage()) {
		return nil, fmt.Errorf("%s needs vectors [D] or images [H,W,C], got shape %v", c.Kind, info.Shape)
	}
	if err := c.Common.Validate(); err != nil {
		return nil, err
	}
	switch c.Kind {
	case KindGAN, KindDCGAN:
		if c.GLoss != Minimax && c.GLoss != NonSaturating {
			return nil, fmt.Errorf("unknown g-loss %q (valid: %s, %s)", c.GLoss, NonSaturating, Minimax)
		}
	case KindWGAN:
		if !(c.Clip > 0) || math.IsInf(c.Clip, 0) {
			return nil, fmt.Errorf("clip must be > 0, got %g", c.Clip)
		}
	case KindWGANGP:
		if !(c.GP >= 0) || math.IsInf(c.GP, 0) {
			return nil, fmt.Errorf("gp must be >= 0, got %g", c.GP)
		}
	default:
		return nil, fmt.Errorf("unknown GAN kind %q (valid: %s, %s, %s, %s)", c.Kind, KindGAN, KindDCGAN, KindWGAN, KindWGANGP)
	}
	if c.Kind != KindGAN && c.Kind != KindDCGAN && c.GLoss != "" {
		return nil, fmt.Errorf("g-loss does not apply to %s (its generator descends −E[D(G(z))])", c.Kind)
	}
	if c.Kind == KindDCGAN && !info.IsImage() {
		return nil, fmt.Errorf("dcgan needs images [H,W,C], got shape %v (use gan or wgan-gp for vectors)", info.Shape)
	}
	switch {
	case c.Net == "" && info.IsImage() && c.Kind != KindGAN:
		c.Net = NetConv
	case c.Net == "":
		c.Net = NetMLP
	case c.Net == NetConv && !info.IsImage():
		return nil, fmt.Errorf("net conv needs images; the data are vectors of shape %v (use net mlp)", info.Shape)
	}
	if c.Kind == KindDCGAN && c.Net != NetConv {
		return nil, fmt.Errorf("dcgan is convolutional: net %s does not apply (use model gan for MLPs)", c.Net)
	}
	if c.Latent == 0 {
		c.Latent = defaultLatentVector
		if info.IsImage() {
			c.Latent = defaultLatentImage
		}
	}
	if c.Hidden == nil {
		c.Hidden = DefaultHidden
		if info.IsImage() {
			c.Hidden = DefaultImageHidden
		}
	}
	c.Hidden = slices.Clone(c.Hidden)
	if c.Channels == nil {
		c.Channels = DefaultChannels
	}
	c.Channels = slices.Clone(c.Channels)
	if c.Net == NetConv {
		n, h, w := len(c.Channels), info.Shape[0], info.Shape[1]
		if n == 0 || h%(1<<n) != 0 || w%(1<<n) != 0 {
			return nil, fmt.Errorf("a conv GAN with %d halvings (channels %v) needs H and W divisible by %d, got %dx%d", n, c.Channels, 1<<n, h, w)
		}
	}
	c.NumClasses = 0
	if c.Conditional && info.NumClasses > 0 {
		c.NumClasses = info.NumClasses
	}
	return &Model{info: info, cfg: c}, nil
}

// Config returns the resolved configuration.
func (m *Model) Config() Config { return m.cfg }

// NumClasses is the number of classes the model is conditioned on (0 = unconditional).
func (m *Model) NumClasses() int { return m.cfg.NumClasses }

// Latent is the dimension of z.
func (m *Model) Latent() int { return m.cfg.Latent }

// wasserstein reports whether D is a critic (no sigmoid, W1 objective).
func (m *Model) wasserstein() bool { return m.cfg.Kind == KindWGAN || m.cfg.Kind == KindWGANGP }

// classDim is the width of the generator's class embedding.
func (m *Model) classDim() int {
	if m.info.IsImage() {
		return 32
	}
	return 16
}

// Generator maps noise z [B, Latent] (and labels [B] int32, read only by
// a conditional model) to samples [B, Shape...] in the model's data space;
// scope is the model's root (its weights are under "gen").
func (m *Model) Generator(scope *model.Scope, z, labels *Node) *Node {
	scope = scope.At("gen")
	b := z.Shape().Dimensions[0]
	h := z
	if m.cfg.NumClasses > 0 {
		e := nn.ClassEmbeddingAs(scope.In("class"), labels, m.cfg.NumClasses, m.classDim(), z.DType())
		h = Concatenate([]*Node{z, e}, -1)
	}
	if m.cfg.Net == NetConv {
		return m.convGenerator(scope, h)
	}
	hidden := m.cfg.Hidden
	for i := range hidden {
		h = relu(nn.Dense(scope.In("layer_%d", i), h, hidden[len(hidden)-1-i]))
	}
	out := nn.Dense(scope.In("out"), h, m.info.Dim())
	if !m.info.IsImage() {
		return out // vectors: the data's own values, unbounded
	}
	return Reshape(Tanh(out), append([]int{b}, m.info.Shape...)...)
}

// convGenerator is DCGAN's generator scaled to the image: a projection of
// z to a (H/2ⁿ)x(W/2ⁿ) map of the widest channels, then n trainable 2x
// upsamplings (nearest + 3x3 conv, nn.Upsample; GoMLX has no trainable
// transposed conv), each but the last followed by GroupNorm (DCGAN's
// BatchNorm does not train on this engine, and a per-example norm keeps
// samples independent of their batch) and ReLU; tanh at the end.
func (m *Model) convGenerator(scope *model.Scope, h *Node) *Node {
	ch := m.cfg.Channels
	n := len(ch)
	b := h.Shape().Dimensions[0]
	h0, w0, cOut := m.info.Shape[0]>>n, m.info.Shape[1]>>n, m.info.Shape[2]
	x := nn.Dense(scope.In("project"), h, h0*w0*ch[n-1])
	x = Reshape(x, b, h0, w0, ch[n-1])
	x = relu(nn.GroupNorm(scope.In("norm_%d", n), x, groupsFor(ch[n-1])))
	for i := n - 1; i >= 0; i-- {
		out := cOut
		if i > 0 {
			out = ch[i-1]
		}
		x = nn.Upsample(scope.In("up_%d", i), x, out)
		if i > 0 {
			x = relu(nn.GroupNorm(scope.In("norm_%d", i), x, groupsFor(out)))
		}
	}
	return Tanh(x)
}

// groupsFor is the GroupNorm group count for c channels: the largest of
// 32, 16, ..., 2 that leaves at least 2 channels per group.
func groupsFor(c int) int {
	for _, g := range []int{32, 16, 8, 4, 2} {
		if c%g == 0 && c/g >= 2 {
			return g
		}
	}
	return 1
}

// Discriminator is D's logit (gan, dcgan: D(x) = σ(logit)) or the critic's
// score f(x) (wgan, wgan-gp: no sigmoid), [B], for x [B, Shape...]; scope
// is the model's root (weights under "disc"). Features φ(x) come from an
// MLP or from strided convolutions (each halving is SpaceToDepth and a 3x3
// conv, a 6x6 stride-2 conv; LeakyReLU 0.2, no normalization, so each
// example's score depends on it alone, as the gradient penalty needs).
// Conditional models add the projection term ⟨e_y, φ(x)⟩ (Miyato &
// Koyama 2018).
func (m *Model) Discriminator(scope *model.Scope, x, labels *Node) *Node {
	scope = scope.At("disc")
	b := x.Shape().Dimensions[0]
	var phi *Node
	if m.cfg.Net == NetConv {
		h := x
		for i, c := range m.cfg.Channels {
			h = leakyReLU(nn.Conv2D(scope.In("conv_%d", i), nn.SpaceToDepth(h), c, 3))
		}
		phi = Reshape(h, b, -1)
	} else {
		phi = Reshape(x, b, -1)
		for i, w := range m.cfg.Hidden {
			phi = leakyReLU(nn.Dense(scope.In("layer_%d", i), phi, w))
		}
	}
	out := Reshape(nn.Dense(scope.In("out"), phi, 1), b)
	if m.cfg.NumClasses > 0 {
		fd := phi.Shape().Dimensions[1]
		e := nn.ClassEmbeddingAs(scope.In("projection"), labels, m.cfg.NumClasses, fd, x.DType())
		out = Add(out, MulScalar(ReduceSum(Mul(e, phi), -1), 1/math.Sqrt(float64(fd))))
	}
	return out
}

// fakes draws z ~ N(0, I) from the store's RNG and returns G(z) for the
// batch's labels.
func (m *Model) fakes(scope *model.Scope, x, labels *Node) *Node {
	b := x.Shape().Dimensions[0]
	z := scope.RandomNormal(x.Graph(), shapes.Make(x.DType(), b, m.cfg.Latent))
	return m.Generator(scope, z, labels)
}

// discriminatorStep is the D (critic) phase's loss and diagnostics on a
// batch x of real examples and as many fakes (G frozen).
func (m *Model) discriminatorStep(scope *model.Scope, x, labels *Node) (*Node, map[string]*Node) {
	fake := StopGradient(m.fakes(scope, x, labels))
	real := m.Discriminator(scope, x, labels)
	fk := m.Discriminator(scope, fake, labels)
	if !m.wasserstein() {
		// D ascends V(D, G); its output probabilities D(x) and D(G(z)).
		return DiscriminatorLoss(real, fk), map[string]*Node{"d_real": Sigmoid(real), "d_fake": Sigmoid(fk)}
	}
	w1 := W1Estimate(real, fk)
	loss := Neg(w1)
	metrics := map[string]*Node{"w1": w1}
	if m.cfg.Kind == KindWGANGP {
		eps := scope.RandomUniform(x.Graph(), shapes.Make(x.DType(), x.Shape().Dimensions[0]))
		gp, _ := GradientPenalty(func(xh *Node) *Node { return m.Discriminator(scope, xh, labels) }, x, fake, eps)
		loss = Add(loss, MulScalar(gp, m.cfg.GP))
		metrics["gp"] = gp
	}
	return loss, metrics
}

// generatorLoss is the G phase's loss on fresh fakes (D frozen).
func (m *Model) generatorLoss(scope *model.Scope, x, labels *Node) *Node {
	fk := m.Discriminator(scope, m.fakes(scope, x, labels), labels)
	if m.wasserstein() {
		return Neg(ReduceAllMean(fk))
	}
	return GeneratorLoss(fk, m.cfg.GLoss)
}

// Loss is the generator's loss (models.Model); the trainer runs Phases.
func (m *Model) Loss(scope *model.Scope, x, labels *Node) *Node {
	return m.generatorLoss(scope, x, labels)
}

// Optimizers returns the discriminator's (critic's) and the generator's
// optimizers: the model's paper's, with lr-d and lr-g when set. The run's
// own lr does not set them (only the shape of its warm-up and schedule
// applies, scaled to these rates); lr-d and lr-g do.
func (m *Model) Optimizers() (d, g models.Optimizer) {
	switch m.cfg.Kind {
	case KindWGAN:
		d, g = rmsWGAN, rmsWGAN
	case KindWGANGP:
		d, g = adamGP, adamGP
		if !m.info.IsImage() {
			d, g = adamGPCriticVector, adamGPGeneratorVector
		}
	case KindGAN:
		d, g = adamGAN, adamGAN
		if !m.info.IsImage() {
			d, g = adamGANVector, adamGANVector
		}
	default:
		d, g = adamGAN, adamGAN
	}
	if m.cfg.LRD > 0 {
		d.LR = m.cfg.LRD
	}
	if m.cfg.LRG > 0 {
		g.LR = m.cfg.LRG
	}
	return d, g
}

// Phases are seed 000's algorithm: k = d-steps updates of D (each on a
// fresh batch and fresh noise), then one of G. The wgan critic's weights
// are clipped to [−c, c] after each of its updates.
func (m *Model) Phases() []models.Phase {
	od, og := m.Optimizers()
	name := "discriminator"
	if m.wasserstein() {
		name = "critic"
	}
	d := models.Phase{Name: name, Scope: "disc", Optimizer: od, Repeat: m.cfg.DSteps, Metrics: m.discriminatorStep}
	if m.cfg.Kind == KindWGAN {
		d.After = m.clipCritic
	}
	return []models.Phase{d, {Name: "generator", Scope: "gen", Optimizer: og, Loss: m.generatorLoss}}
}

// clipCritic clips every critic weight to [−c, c] (WGAN's Lipschitz
// constraint), after the optimizer's update in the same graph.
func (m *Model) clipCritic(scope *model.Scope, g *Graph) {
	c := m.cfg.Clip
	for v := range scope.At("disc").IterVariables() {
		if !v.Trainable || isOptimizerState(v.Path()) {
			continue
		}
		v.SetNodeValue(ClipScalar(v.NodeValue(g), -c, c))
	}
}

// isOptimizerState reports whether a variable path is an optimizer's
// (step counters, learning rates, moments), not a weight.
func isOptimizerState(path string) bool {
	return strings.Contains(path, "Optimizer/") || strings.Contains(path, "/optimizers/")
}
