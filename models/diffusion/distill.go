package diffusion

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn"
)

// Distilled is a few-step student of a trained diffusion model (seed 002,
// "Diffusion Distillation"; Liu et al. 2022 for reflow):
//
//   - reflow: pairs (z, x̂) come from the teacher's deterministic sampler
//     (DDIM η = 0, which on the linear path is its Euler ODE solver) run from
//     fresh noise inside the training step; the student regresses the same
//     target on x_t = a·x̂ + b·z, which straightens the paths (2-rectified
//     flow) so that few steps suffice.
//   - progressive (Salimans & Ho 2022): on the student's N-step grid, one
//     deterministic student step from t to s must land where TeacherSteps
//     teacher steps land; the student regresses the implied x̃ with the
//     truncated-SNR weight max(a²/b², 1). Halving N over rounds (the
//     teacher of each round is the previous student) gives 1–4 step samplers.
//
// It samples with DDIM (η = 0) on its own N steps by default.
type Distilled struct {
	*Model
	opts models.DistillOptions
}

// Distill returns the student (models.Distiller).
func (m *Model) Distill(o models.DistillOptions) (models.Model, error) {
	switch o.Method {
	case "reflow", "progressive":
	default:
		return nil, fmt.Errorf("unknown distillation method %q (valid: reflow, progressive)", o.Method)
	}
	if o.Steps < 1 || o.TeacherSteps < 1 {
		return nil, fmt.Errorf("student and teacher steps must be >= 1, got %d and %d", o.Steps, o.TeacherSteps)
	}
	if m.path.Steps() > 0 && o.Steps > m.path.Steps() {
		return nil, fmt.Errorf("a %d-step DDPM cannot be distilled to %d steps", m.path.Steps(), o.Steps)
	}
	return &Distilled{Model: m, opts: o}, nil
}

// Sample defaults to DDIM (η = 0) with the student's own number of steps.
func (d *Distilled) Sample(rt *models.Runtime, req models.SampleRequest) ([]float32, error) {
	o, err := sampleOptions(req.Options)
	if err != nil {
		return nil, err
	}
	if o.Sampler == "" {
		o.Sampler = "ddim"
	}
	if o.Steps == 0 {
		o.Steps = d.opts.Steps
	}
	req.Options = o
	return d.Model.Sample(rt, req)
}

// Loss is the distillation loss of the chosen method.
func (d *Distilled) Loss(scope *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	if d.numClasses > 0 && d.labelDropout > 0 {
		drop := LessThan(scope.RandomUniform(g, shapes.Make(dtypes.Float32, b)), Scalar(g, dtypes.Float32, d.labelDropout))
		labels = Where(drop, Scalar(g, labels.DType(), nn.NullClass(d.numClasses)), labels)
	}
	labels = d.condLabels(labels)
	teacher := scope.In(models.TeacherScope)
	if d.opts.Method == "reflow" {
		return d.reflowLoss(scope, teacher, x, labels)
	}
	return d.progressiveLoss(scope, teacher, x, labels)
}

// times returns the per-example times t [B] filled with v.
func times(like *Node, v float64) *Node {
	return BroadcastToDims(Scalar(like.Graph(), like.DType(), v), like.Shape().Dimensions[0])
}

// denoise runs the network of scope at x_t (times t [B]) and returns x̂, ẑ.
func (m *Model) denoise(scope *model.Scope, xt, t, labels *Node) (xhat, zhat *Node) {
	a, b, da, db := m.path.GraphCoefs(t)
	// At, not In: the teacher runs once per sampler step in the same graph.
	pred := m.net(scope.At("net"), m.scaleInput(xt, b), t, labels)
	r := xt.Rank()
	var c, d *Node
	switch m.target {
	case Eps:
		c, d = OnesLike(a), ZerosLike(a)
	case X:
		c, d = ZerosLike(a), OnesLike(a)
	case V:
		c, d = a, Neg(b)
	default:
		c, d = db, da
	}
	det := perExample(Sub(Mul(a, c), Mul(b, d)), r)
	a, b, c, d = perExample(a, r), perExample(b, r), perExample(c, r), perExample(d, r)
	xhat = Div(Sub(Mul(c, xt), Mul(b, pred)), det)
	zhat = Div(Sub(Mul(a, pred), Mul(d, xt)), det)
	return
}

// ddimStep is the deterministic DDIM step from t to s [B]: a_s·x̂ + b_s·ẑ.
func (m *Model) ddimStep(scope *model.Scope, xt, t, s, labels *Node) *Node {
	xhat, zhat := m.denoise(scope, xt, t, labels)
	as, bs, _, _ := m.path.GraphCoefs(s)
	return Add(Mul(perExample(as, xt.Rank()), xhat), Mul(perExample(bs, xt.Rank()), zhat))
}

func (d *Distilled) reflowLoss(student, teacher *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	z := student.RandomNormal(g, x.Shape())
	_, b1, _, _ := d.path.Coefs(1)
	xs := MulScalar(z, b1)
	grid := EvalTimes(d.path, d.opts.TeacherSteps)
	for i := 0; i+1 < len(grid); i++ {
		xs = d.ddimStep(teacher, xs, times(z, grid[i]), times(z, grid[i+1]), labels)
	}
	xhat := StopGradient(xs) // the teacher's sample for this noise
	return d.targetLoss(student, xhat, z, d.sampleTime(student, x), labels)
}

// noised is x_t = a(t)·x + b(t)·z.
func (m *Model) noised(x, z, t *Node) *Node {
	a, b, _, _ := m.path.GraphCoefs(t)
	return Add(Mul(perExample(a, x.Rank()), x), Mul(perExample(b, x.Rank()), z))
}

// weightedX is mean(max(a²/b², 1)·(x̂ − x)²), Salimans & Ho's truncated-SNR
// weighting of the x-space error.
func (m *Model) weightedX(xhat, x, t *Node) *Node {
	a, b, _, _ := m.path.GraphCoefs(t)
	w := Max(Div(Square(a), AddScalar(Square(b), 1e-12)), OnesLike(a))
	return ReduceAllMean(Mul(perExample(w, x.Rank()), Square(Sub(xhat, x))))
}

func (d *Distilled) progressiveLoss(student, teacher *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	b := x.Shape().Dimensions[0]
	grid := EvalTimes(d.path, d.opts.Steps) // the student's N steps, then 0
	n := len(grid) - 1
	// A random student step j: from grid[j] to grid[j+1].
	j := ConvertDType(Floor(MulScalar(student.RandomUniform(g, shapes.Make(dtypes.Float32, b)), float64(n))), dtypes.Int32)
	j = Min(j, Scalar(g, dtypes.Int32, n-1))
	from, to := make([]float32, n), make([]float32, n)
	for i := 0; i < n; i++ {
		from[i], to[i] = float32(grid[i]), float32(grid[i+1])
	}
	pick := func(table []float32) *Node {
		return ConvertDType(Gather(Const(g, table), InsertAxes(j, -1)), x.DType())
	}
	t, s := pick(from), pick(to)
	z := student.RandomNormal(g, x.Shape())
	xt := d.noised(x, z, t)
	// TeacherSteps deterministic teacher steps from t to s.
	xs := xt
	k := float64(d.opts.TeacherSteps)
	for i := 0; i < d.opts.TeacherSteps; i++ {
		ti := Sub(t, MulScalar(Sub(t, s), float64(i)/k))
		si := Sub(t, MulScalar(Sub(t, s), float64(i+1)/k))
		xs = d.ddimStep(teacher, xs, ti, si, labels)
	}
	xs = StopGradient(xs)
	// The x̃ that one student DDIM step would need to land on xs:
	// xs = a_s·x̃ + b_s·(x_t − a_t·x̃)/b_t.
	at, bt, _, _ := d.path.GraphCoefs(t)
	as, bs, _, _ := d.path.GraphCoefs(s)
	r := x.Rank()
	ratio := perExample(Div(bs, bt), r)
	target := Div(Sub(xs, Mul(ratio, xt)), Sub(perExample(as, r), Mul(ratio, perExample(at, r))))
	xhat, _ := d.denoise(student, xt, t, labels)
	return d.weightedX(xhat, StopGradient(target), t)
}
