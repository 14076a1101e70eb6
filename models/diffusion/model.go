package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn"
)

const family = "diffusion / flow"

// DefaultSteps is the default number of sampling steps (network evaluations
// for DDIM/DDPM, solver steps for the ODE and SDE samplers).
const DefaultSteps = 50

// DDPMSteps is T of the discrete DDPM path.
const DDPMSteps = 1000

// variant is one registered configuration of the package.
type variant struct {
	name, description string
	path              func(o Options, info models.DataInfo) (Path, error)
	target            Target
	net               string // default network ("" = by data shape)
	sampler           string // default sampler
}

var variants = []variant{
	{name: "ddpm", description: "DDPM (Ho et al.): T=1000 linear or cosine β, ε-prediction; samplers ddpm (ancestral), ddim, sde, ode",
		path: func(o Options, _ models.DataInfo) (Path, error) { return NewDDPM(o.Schedule, DDPMSteps) }, target: Eps, sampler: "ddim"},
	{name: "vp", description: "score SDE, variance preserving (β 0.1..20), ε-prediction; samplers ddim, ddpm, sde, ode",
		path: func(Options, models.DataInfo) (Path, error) { return DefaultVP, nil }, target: Eps, sampler: "ddim"},
	{name: "ve", description: "score SDE, variance exploding (σ 0.01..σ_max), ε-prediction; samplers sde, ddim, ddpm, ode",
		path: func(_ Options, info models.DataInfo) (Path, error) {
			return VE{SigmaMin: 0.01, SigmaMax: veSigmaMax(info)}, nil
		}, target: Eps, sampler: "sde"},
	{name: "rf", description: "rectified flow: x_t=(1-t)x+tz, regress v=z-x; Euler/Heun sampling, class-conditional with classifier-free guidance",
		path: func(Options, models.DataInfo) (Path, error) { return Linear{}, nil }, target: Flow, sampler: "euler"},
	{name: "dit", description: "rectified flow with a Diffusion Transformer (patches, adaLN-Zero conditioning on t and class)",
		path: func(Options, models.DataInfo) (Path, error) { return Linear{}, nil }, target: Flow, net: "dit", sampler: "euler"},
}

// veSigmaMax follows Song & Ermon's rule of thumb (σ_max ≈ the largest
// distance between training points): 50 for 28x28 images in [-1, 1], 10
// for the 2D toys.
func veSigmaMax(info models.DataInfo) float64 {
	if info.IsImage() {
		return 50
	}
	return 10
}

func init() {
	for _, v := range variants {
		v := v
		models.Register(models.Entry{Name: v.name, Family: family, Description: v.description,
			Options: DefaultOptions(), SampleOptions: SampleOptions{},
			New: models.Typed(func(o Options, info models.DataInfo) (models.Model, error) { return newVariant(v, o, info) })})
	}
}

// Model is a diffusion model: a path, a target and a network.
type Model struct {
	info           models.DataInfo
	path           Path
	target         Target
	numClasses     int // 0: unconditional
	labelDropout   float64
	logitNormal    bool
	defaultSampler string
	net            func(scope *model.Scope, x, t, labels *Node) *Node
}

// New builds a diffusion model from explicit parts (the registered names
// are presets of it).
func New(path Path, target Target, o Options, info models.DataInfo, defaultSampler string) (*Model, error) {
	if err := checkInvertible(path, target); err != nil {
		return nil, err
	}
	m := &Model{info: info, path: path, target: target, labelDropout: o.LabelDropout, defaultSampler: defaultSampler}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m.logitNormal = o.TSampling == "logit-normal"
	if o.Conditional && info.NumClasses > 0 {
		m.numClasses = info.NumClasses
	}
	var err error
	if m.net, err = newNet(o, info, m.numClasses); err != nil {
		return nil, err
	}
	return m, nil
}

func newVariant(v variant, o Options, info models.DataInfo) (*Model, error) {
	path, err := v.path(o, info)
	if err != nil {
		return nil, err
	}
	if o.Schedule != "" && path.Name() != "ddpm" {
		return nil, fmt.Errorf("schedule applies to ddpm only (model %s uses the %s path)", v.name, path.Name())
	}
	target := v.target
	if o.Target != "" {
		if target, err = ParseTarget(o.Target); err != nil {
			return nil, err
		}
	}
	if o.Net == "" {
		o.Net = v.net
	}
	return New(path, target, o, info, v.sampler)
}

// newNet builds the network f_θ(x_t, t, y) with the data's shape.
func newNet(o Options, info models.DataInfo, numClasses int) (func(scope *model.Scope, x, t, labels *Node) *Node, error) {
	net := o.Net
	if net == "" {
		net = "mlp"
		if info.IsImage() {
			net = "unet"
		}
	}
	switch net {
	case "mlp":
		cfg := nn.DefaultMLPNetConfig(numClasses)
		if len(o.Hidden) > 0 {
			cfg.Hidden = o.Hidden
		}
		if o.TimeDim > 0 {
			cfg.TimeDim = o.TimeDim
		}
		dim := info.Dim()
		return func(scope *model.Scope, x, t, labels *Node) *Node {
			b := x.Shape().Dimensions[0]
			return Reshape(nn.VelocityMLP(scope, Reshape(x, b, dim), t, labels, cfg), x.Shape().Dimensions...)
		}, nil
	case "unet":
		if !info.IsImage() {
			return nil, fmt.Errorf("net unet needs images, the data has shape %v", info.Shape)
		}
		cfg := nn.DefaultUNetConfig(numClasses)
		if len(o.Channels) > 0 {
			cfg.Channels = o.Channels
		}
		if o.TimeDim > 0 {
			cfg.TimeDim = o.TimeDim
		}
		return func(scope *model.Scope, x, t, labels *Node) *Node { return nn.UNet(scope, x, t, labels, cfg) }, nil
	case "dit":
		if !info.IsImage() {
			return nil, fmt.Errorf("net dit needs images, the data has shape %v", info.Shape)
		}
		cfg := nn.DefaultDiTConfig(numClasses)
		if o.TimeDim > 0 {
			cfg.TimeDim = o.TimeDim
		}
		if info.Shape[0]%cfg.Patch != 0 || info.Shape[1]%cfg.Patch != 0 {
			return nil, fmt.Errorf("net dit cuts images into %dx%d patches; %dx%d images do not divide", cfg.Patch, cfg.Patch, info.Shape[0], info.Shape[1])
		}
		return func(scope *model.Scope, x, t, labels *Node) *Node { return nn.DiT(scope, x, t, labels, cfg) }, nil
	}
	return nil, fmt.Errorf("unknown net %q (valid: mlp, unet, dit)", net)
}

// Path is the model's noising path.
func (m *Model) Path() Path { return m.path }

// Target is what the network predicts.
func (m *Model) Target() Target { return m.target }

// NumClasses is the number of classes the model is conditioned on (0 = none).
func (m *Model) NumClasses() int { return m.numClasses }

// perExample reshapes v [B] to [B, 1, ..., 1] to broadcast against rank-r data.
func perExample(v *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// Loss is the regression of the target, averaged over batch and dimensions.
func (m *Model) Loss(scope *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	z := scope.RandomNormal(g, x.Shape())
	if m.numClasses > 0 && m.labelDropout > 0 {
		// Replace y by y_∅ with probability p, so one network learns both
		// the conditional and the unconditional model (classifier-free guidance).
		drop := LessThan(scope.RandomUniform(g, shapes.Make(dtypes.Float32, b)), Scalar(g, dtypes.Float32, m.labelDropout))
		labels = Where(drop, Scalar(g, labels.DType(), nn.NullClass(m.numClasses)), labels)
	}
	return m.targetLoss(scope, x, z, m.sampleTime(scope, x), m.condLabels(labels))
}

// sampleTime draws one training time per example: t = TrainTime(u) with u
// uniform on (0, 1] or logit-normal (seed 002: t = sigmoid(n), n ~ N(0, 1)).
func (m *Model) sampleTime(scope *model.Scope, x *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	var u *Node
	if m.logitNormal {
		u = Logistic(scope.RandomNormal(g, shapes.Make(x.DType(), b)))
	} else {
		u = OneMinus(scope.RandomUniform(g, shapes.Make(x.DType(), b)))
	}
	return m.path.TrainTime(u)
}

// targetLoss is ‖f_θ(x_t, t, y) − (c(t)·z + d(t)·x)‖² for the coupling (x, z).
func (m *Model) targetLoss(scope *model.Scope, x, z, t, labels *Node) *Node {
	r := x.Rank()
	a, bt, da, db := m.path.GraphCoefs(t)
	xt := Add(Mul(perExample(a, r), x), Mul(perExample(bt, r), z))
	var y *Node
	switch m.target {
	case Eps:
		y = z
	case X:
		y = x
	case V:
		y = Sub(Mul(perExample(a, r), z), Mul(perExample(bt, r), x))
	case Flow:
		y = Add(Mul(perExample(db, r), z), Mul(perExample(da, r), x))
	}
	pred := m.net(scope.In("net"), m.scaleInput(xt, bt), t, labels)
	return ReduceAllMean(Square(Sub(pred, y)))
}

func (m *Model) condLabels(labels *Node) *Node {
	if m.numClasses == 0 {
		return nil
	}
	return labels
}

// Predict builds the guided network prediction for the sampler: x [B,...]
// at the scalar time t, scaled by inScale before the network. With guided
// set, the conditional and null-class predictions come from one pass over
// the doubled batch and are combined as (1 + w)·f_y − w·f_∅.
func (m *Model) Predict(scope *model.Scope, x, t, inScale, labels *Node, guided bool, w *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	tb := BroadcastToDims(ConvertDType(t, x.DType()), b)
	x = Mul(x, ConvertDType(inScale, x.DType()))
	if m.numClasses == 0 {
		return m.net(scope.In("net"), x, tb, nil)
	}
	if !guided {
		return m.net(scope.In("net"), x, tb, labels)
	}
	null := BroadcastToDims(Scalar(g, labels.DType(), nn.NullClass(m.numClasses)), b)
	out := m.net(scope.In("net"), Concatenate([]*Node{x, x}, 0), Concatenate([]*Node{tb, tb}, 0), Concatenate([]*Node{labels, null}, 0))
	fy := Slice(out, AxisRange(0, b))
	f0 := Slice(out, AxisRange(b, 2*b))
	wc := ConvertDType(w, x.DType())
	return Sub(Mul(OnePlus(wc), fy), Mul(wc, f0))
}

// scaleInput is the graph form of inputScale, given b(t) [B].
func (m *Model) scaleInput(xt, b *Node) *Node {
	if _, ok := m.path.(VE); ok {
		return Mul(xt, perExample(Rsqrt(OnePlus(Square(b))), xt.Rank()))
	}
	return xt
}

// inputScale is the factor on x_t before the network at time t: 1, except
// on the VE path, whose x_t has variance about 1 + σ(t)² for unit-variance
// data, scaled back to unit size (EDM's c_in).
func (m *Model) inputScale(t float64) float64 {
	if _, ok := m.path.(VE); ok {
		_, b, _, _ := m.path.Coefs(t)
		return 1 / math.Sqrt(1+b*b)
	}
	return 1
}
