package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/models"
	"genmod/nn"
	"genmod/solver"
)

// LikelihoodOptions tune the probability-flow log-likelihood.
type LikelihoodOptions struct {
	// Probes is the number of Hutchinson probes ε (Rademacher) per row for
	// the divergence εᵀ(∂v/∂x)ε. 0 means: the exact trace (one probe per
	// basis vector) when the data has at most ExactTraceMaxDim values, else 1.
	Probes int
	Tol    solver.Tolerances // zero: solver.DefaultTolerances
	Seed   int64
	// Progress gets (done, total) in thousandths of the time span per batch.
	Progress func(done, total int)
}

// ExactTraceMaxDim is the largest data size whose divergence is computed
// exactly (D backward passes) rather than estimated.
const ExactTraceMaxDim = 16

// LogProb is the probability-flow ODE log-likelihood log p(x) in nats of n
// rows x in the model's data space, at the path's smallest time (Song et al.
// 2021, "Exact likelihood computation"): integrate dx/dt = v and
// d log p/dt = −∇·v from t_min to 1 and add the prior log N(x_1; 0, b(1)²I).
// Conditional models are scored unconditionally, with the null class.
func (m *Model) LogProb(rt *models.Runtime, x []float32, n int) ([]float64, error) {
	return m.LogLikelihood(rt, x, n, LikelihoodOptions{})
}

// LogLikelihood is LogProb with options.
func (m *Model) LogLikelihood(rt *models.Runtime, x []float32, n int, o LikelihoodOptions) ([]float64, error) {
	dim := m.info.Dim()
	if n < 1 || len(x) != n*dim {
		return nil, fmt.Errorf("got %d values for %d rows of %d", len(x), n, dim)
	}
	probes, exact := o.Probes, false
	if probes == 0 {
		probes, exact = 1, dim <= ExactTraceMaxDim
		if exact {
			probes = dim
		}
	}
	if probes < 0 {
		return nil, fmt.Errorf("probes must be >= 0, got %d", o.Probes)
	}
	tol := o.Tol
	if tol == (solver.Tolerances{}) {
		tol = solver.DefaultTolerances
	}
	// One graph: the velocity v = α·x + β·f(x·s, t) and εᵀ(∂v/∂x)ε.
	exec, err := model.NewExec(rt.Backend, rt.Store, func(_ *model.Scope, xt, t, inScale, alpha, beta, probe *Node) []*Node {
		b := xt.Shape().Dimensions[0]
		var labels *Node
		if m.numClasses > 0 {
			labels = BroadcastToDims(Scalar(xt.Graph(), dtypes.Int32, nn.NullClass(m.numClasses)), b)
		}
		tb := BroadcastToDims(ConvertDType(t, xt.DType()), b)
		pred := m.net(rt.Scope().In("net"), Mul(xt, ConvertDType(inScale, xt.DType())), tb, labels)
		v := Add(Mul(ConvertDType(alpha, xt.DType()), xt), Mul(ConvertDType(beta, xt.DType()), pred))
		jtp := Gradient(ReduceAllSum(Mul(v, probe)), xt)[0]
		axes := make([]int, xt.Rank()-1)
		for i := range axes {
			axes[i] = i + 1
		}
		return []*Node{v, ReduceSum(Mul(jtp, probe), axes...)}
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()

	out := make([]float64, 0, n)
	_, b1, _, _ := m.path.Coefs(1)
	maxBatch := m.maxBatch()
	for lo := 0; lo < n; lo += maxBatch {
		hi := min(lo+maxBatch, n)
		rows := hi - lo
		shape := append([]int{rows}, m.info.Shape...)
		probeSet := make([][]float32, probes)
		rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(lo)))
		for k := range probeSet {
			p := make([]float32, rows*dim)
			for i := range p {
				switch {
				case exact:
					if i%dim == k {
						p[i] = 1
					}
				case rng.IntN(2) == 0:
					p[i] = -1
				default:
					p[i] = 1
				}
			}
			probeSet[k] = p
		}
		field := func(xs []float32, t float64, v, div []float32) error {
			a, b, da, db := m.path.Coefs(t)
			c, d := m.target.Coefs(a, b, da, db)
			det := a*c - b*d
			alpha, beta := (da*c-db*d)/det, (db*a-da*b)/det // v = a'x̂ + b'ẑ in terms of x and the prediction
			for i := range div {
				div[i] = 0
			}
			for k, p := range probeSet {
				res, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, shape...), float32(t), float32(m.inputScale(t)),
					float32(alpha), float32(beta), tensors.FromFlatDataAndDimensions(p, shape...))
				if err != nil {
					return err
				}
				if k == 0 {
					if err := res[0].ConstFlatData(func(f any) { copy(v, f.([]float32)) }); err != nil {
						return err
					}
				}
				if err := res[1].ConstFlatData(func(f any) {
					for i, e := range f.([]float32) {
						div[i] += e
					}
				}); err != nil {
					return err
				}
			}
			if !exact {
				for i := range div {
					div[i] /= float32(probes)
				}
			}
			return nil
		}
		xs := append([]float32(nil), x[lo*dim:hi*dim]...)
		delta, _, err := solver.ChangeOfVariables(field, xs, dim, m.path.TMin(), 1, tol, o.Progress)
		if err != nil {
			return nil, fmt.Errorf("probability-flow likelihood: %w", err)
		}
		for i := 0; i < rows; i++ {
			sq := 0.0
			for _, v := range xs[i*dim : (i+1)*dim] {
				sq += float64(v) * float64(v)
			}
			prior := -0.5*sq/(b1*b1) - float64(dim)*(math.Log(b1)+0.5*math.Log(2*math.Pi))
			out = append(out, prior+delta[i])
		}
	}
	return out, nil
}
