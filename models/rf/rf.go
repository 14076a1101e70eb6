// Package rf is rectified flow exactly as seed 002 writes it ("Rectified
// Flow", "Conditional Rectified Flow", "Classifier-Free Guidance", "Optimal
// Prediction (Noise Schedules)"):
//
//	z ~ N(0, I),  x ~ p_data,  t ~ Uniform[0, 1]  (or t = sigmoid(n), n ~ N(0, 1): logit-normal)
//	x_t = (1 - t)·x + t·z,     v = z - x
//	L = ‖f_θ(x_t, y, t) - v‖²
//
// Training drops the label to the null class with probability p (CFG). To
// sample, start from x ~ N(0, I) at t = 1 and integrate dx/dt = v to t = 0 in
// T steps (Euler: x ← x - v/T), with the guided velocity
//
//	v_cfg = (1 + w)·v_y - w·v_∅.
//
// The network is an MLP for vectors (2D toys, tabular data) and a U-Net for
// images.
package rf

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn"
	"genmod/solver"
)

func init() {
	models.Register(models.Entry{
		Name:        "rf",
		Family:      "diffusion / flow",
		Description: "rectified flow: x_t=(1-t)x+tz, regress v=z-x; Euler/Heun sampling, class-conditional with classifier-free guidance",
		New:         New,
	})
}

// DefaultSteps is the seed's usual number of sampling steps (T = 50).
const DefaultSteps = 50

// Model is a rectified flow over one data shape.
type Model struct {
	info         models.DataInfo
	numClasses   int // 0: unconditional
	labelDropout float64
	logitNormal  bool
	net          func(scope *model.Scope, x, t, labels *Node) *Node
}

// New builds a rectified flow for the data.
func New(o models.Options, info models.DataInfo) (models.Model, error) {
	m := &Model{info: info, labelDropout: o.LabelDropout}
	switch o.TSampling {
	case "", "uniform":
	case "logit-normal":
		m.logitNormal = true
	default:
		return nil, fmt.Errorf("unknown t-sampling %q (valid: uniform, logit-normal)", o.TSampling)
	}
	if o.TimeDim != 0 && o.TimeDim < 2 {
		return nil, fmt.Errorf("time-dim must be >= 2, got %d", o.TimeDim)
	}
	for _, h := range append(append([]int{}, o.Hidden...), o.Channels...) {
		if h < 1 {
			return nil, fmt.Errorf("layer widths must be >= 1, got hidden %v, channels %v", o.Hidden, o.Channels)
		}
	}
	if o.Conditional && info.NumClasses > 0 {
		m.numClasses = info.NumClasses
	}
	net := o.Net
	if net == "" {
		net = "mlp"
		if info.IsImage() {
			net = "unet"
		}
	}
	switch net {
	case "mlp":
		cfg := nn.DefaultMLPNetConfig(m.numClasses)
		if len(o.Hidden) > 0 {
			cfg.Hidden = o.Hidden
		}
		if o.TimeDim > 0 {
			cfg.TimeDim = o.TimeDim
		}
		dim := info.Dim()
		m.net = func(scope *model.Scope, x, t, labels *Node) *Node {
			b := x.Shape().Dimensions[0]
			flat := Reshape(x, b, dim)
			return Reshape(nn.VelocityMLP(scope, flat, t, labels, cfg), x.Shape().Dimensions...)
		}
	case "unet":
		if !info.IsImage() {
			return nil, fmt.Errorf("net unet needs images, the data has shape %v", info.Shape)
		}
		cfg := nn.DefaultUNetConfig(m.numClasses)
		if len(o.Channels) > 0 {
			cfg.Channels = o.Channels
		}
		if o.TimeDim > 0 {
			cfg.TimeDim = o.TimeDim
		}
		m.net = func(scope *model.Scope, x, t, labels *Node) *Node {
			return nn.UNet(scope, x, t, labels, cfg)
		}
	default:
		return nil, fmt.Errorf("unknown net %q (valid: mlp, unet)", net)
	}
	return m, nil
}

// NumClasses is the number of classes the model is conditioned on (0 = none).
func (m *Model) NumClasses() int { return m.numClasses }

// Loss is the rectified-flow regression loss, averaged over batch and dimensions.
func (m *Model) Loss(scope *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	z := scope.RandomNormal(g, x.Shape())
	var t *Node
	if m.logitNormal {
		t = Logistic(scope.RandomNormal(g, shapes.Make(x.DType(), b)))
	} else {
		t = scope.RandomUniform(g, shapes.Make(x.DType(), b))
	}
	tb := perExample(t, x.Rank())
	xt := Add(Mul(OneMinus(tb), x), Mul(tb, z)) // x_t = (1-t)x + tz
	v := Sub(z, x)                              // v = z - x
	if m.numClasses > 0 && m.labelDropout > 0 {
		// Replace y by y_∅ with probability p, so one network learns both
		// v_y and v_∅ (classifier-free guidance).
		drop := LessThan(scope.RandomUniform(g, shapes.Make(dtypes.Float32, b)), Scalar(g, dtypes.Float32, m.labelDropout))
		labels = Where(drop, Scalar(g, labels.DType(), nn.NullClass(m.numClasses)), labels)
	}
	pred := m.net(scope.In("net"), xt, t, m.condLabels(labels))
	return ReduceAllMean(Square(Sub(pred, v)))
}

func (m *Model) condLabels(labels *Node) *Node {
	if m.numClasses == 0 {
		return nil
	}
	return labels
}

// perExample reshapes t [B] to [B, 1, ..., 1] to broadcast against rank-r data.
func perExample(t *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = t.Shape().Dimensions[0]
	return Reshape(t, dims...)
}

// Velocity builds the guided velocity graph v_cfg(x, t) used by the sampler.
// With w != 0 the conditional and null-class velocities come from one pass
// over the doubled batch.
func (m *Model) Velocity(scope *model.Scope, x, t, labels *Node, guided bool, w *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	tb := BroadcastToDims(ConvertDType(t, x.DType()), b)
	if m.numClasses == 0 {
		return m.net(scope.In("net"), x, tb, nil)
	}
	if !guided {
		return m.net(scope.In("net"), x, tb, labels)
	}
	null := BroadcastToDims(Scalar(g, labels.DType(), nn.NullClass(m.numClasses)), b)
	out := m.net(scope.In("net"), Concatenate([]*Node{x, x}, 0), Concatenate([]*Node{tb, tb}, 0), Concatenate([]*Node{labels, null}, 0))
	vy := Slice(out, AxisRange(0, b))
	v0 := Slice(out, AxisRange(b, 2*b))
	wc := ConvertDType(w, x.DType())
	return Sub(Mul(OnePlus(wc), vy), Mul(wc, v0)) // v_cfg = (1+w)v_y - w v_∅
}

// maxBatch bounds how many samples go through the network at once.
const maxBatch = 500

// Sample draws x ~ N(0, I) and integrates the velocity from t = 1 to t = 0.
func (m *Model) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	steps := req.Steps
	if steps == 0 {
		steps = DefaultSteps
	}
	method := solver.Euler
	if req.Solver != "" {
		var err error
		if method, err = solver.ParseMethod(req.Solver); err != nil {
			return nil, err
		}
	}
	if req.N < 1 || steps < 1 {
		return nil, fmt.Errorf("need at least 1 sample and 1 step, got n=%d, steps=%d", req.N, steps)
	}
	if req.Labels != nil && len(req.Labels) != req.N {
		return nil, fmt.Errorf("got %d labels for %d samples", len(req.Labels), req.N)
	}
	if m.numClasses > 0 && req.Labels == nil {
		return nil, fmt.Errorf("this model is class-conditional: give a class for every sample")
	}
	if m.numClasses == 0 && (req.Labels != nil || req.Guidance != 0) {
		return nil, fmt.Errorf("this model is unconditional: classes and guidance do not apply")
	}
	for _, l := range req.Labels {
		if l < 0 || int(l) >= m.numClasses {
			return nil, fmt.Errorf("class %d out of range [0, %d)", l, m.numClasses)
		}
	}
	guided := req.Guidance != 0
	velocity, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, x, t, labels, w *Node) *Node {
		return m.Velocity(rt.Scope(), x, t, labels, guided, w)
	})
	if err != nil {
		return nil, err
	}
	defer velocity.Finalize()

	dim := m.info.Dim()
	out := models.Noise(req.N, dim, req.Seed)
	ts := solver.UniformGrid(1, 0, steps)
	done, total := 0, steps*((req.N+maxBatch-1)/maxBatch)
	for lo := 0; lo < req.N; lo += maxBatch {
		hi := min(lo+maxBatch, req.N)
		n := hi - lo
		shape := append([]int{n}, m.info.Shape...)
		labels := make([]int32, n)
		if req.Labels != nil {
			copy(labels, req.Labels[lo:hi])
		}
		lt := tensors.FromFlatDataAndDimensions(labels, n)
		field := func(x []float32, t float64, v []float32) error {
			res, err := velocity.Exec(tensors.FromFlatDataAndDimensions(x, shape...), float32(t), lt, float32(req.Guidance))
			if err != nil {
				return err
			}
			return res[0].ConstFlatData(func(flat any) { copy(v, flat.([]float32)) })
		}
		var progress func(int, int)
		if req.Progress != nil {
			base := done
			progress = func(d, _ int) { req.Progress(base+d, total) }
		}
		if err := solver.Integrate(method, field, out[lo*dim:hi*dim], ts, progress); err != nil {
			return nil, fmt.Errorf("sampling: %w", err)
		}
		done += steps
	}
	return out, nil
}
