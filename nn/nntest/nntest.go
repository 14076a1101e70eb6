// Package nntest checks gradients of scope-based GoMLX functions against
// central finite differences, for tests anywhere in genmod.
//
// Use float64 inputs: the checks compare analytic and numeric derivatives to
// about 1e-6, which float32 cannot resolve. Variables take the input dtype,
// so the model's variables are float64 too. Integer inputs (labels) are
// passed through unchecked. fn must be deterministic: no scope.RandomNormal
// in the checked loss (draw noise outside and pass it as an input).
//
//	func TestMyBlock(t *testing.T) {
//		x := nntest.Rand(1, 2, 5)
//		nntest.CheckBlock(t, func(scope *model.Scope, in []*graph.Node) *graph.Node {
//			return myBlock(scope, in[0])
//		}, []*tensors.Tensor{x}, nil)
//	}
package nntest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/engine"
)

var (
	backendOnce sync.Once
	backend     compute.Backend
)

// Backend returns a shared pure-Go backend. parallelism=-1 avoids a worker
// pool deadlock seen in GoMLX v0.28.2 with concurrent large matmuls.
func Backend() compute.Backend {
	backendOnce.Do(func() {
		var err error
		// Through genmod's engine set-up, so that tests compute with the
		// same kernels as genmod (internal/engine's float32 matmul).
		backend, err = engine.NewBackend("go:parallelism=-1")
		if err != nil {
			panic(fmt.Sprintf("nntest: cannot create the Go backend: %v", err))
		}
	})
	return backend
}

// Rand returns a float64 tensor of the given dimensions with values uniform
// in [-1, 1), the same for the same seed.
func Rand(seed uint64, dims ...int) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	t := tensors.FromShape(shapes.Make(dtypes.Float64, dims...))
	tensors.MustMutableFlatData(t, func(flat []float64) {
		for i := range flat {
			flat[i] = 2*r.Float64() - 1
		}
	})
	return t
}

// Options tune a check. The zero value (or nil) uses the defaults.
type Options struct {
	Step      float64 // finite-difference step; default 1e-5
	Tol       float64 // allowed |analytic-numeric| / max(1, |numeric|); default 1e-6
	MaxCoords int     // coordinates checked per tensor (a random subset beyond it); default 16
	Seed      int64   // variable initialisation and coordinate choice; default 1
	NoInputs  bool    // skip the inputs (check variables only)
	NoVars    bool    // skip the variables (check inputs only)
	// RandomizeVars > 0 replaces every trainable variable, after its
	// initialisation, by values uniform in [-RandomizeVars, RandomizeVars):
	// zero-initialised layers would otherwise hide the gradients upstream.
	RandomizeVars float64
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Step == 0 {
		r.Step = 1e-5
	}
	if r.Tol == 0 {
		r.Tol = 1e-6
	}
	if r.MaxCoords == 0 {
		r.MaxCoords = 16
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	return r
}

// ScalarFn builds a scalar loss from the inputs, creating variables under scope.
type ScalarFn func(scope *model.Scope, inputs []*Node) *Node

// Result is the outcome of one check.
type Result struct {
	Checked  int     // number of coordinates compared
	MaxError float64 // largest |analytic-numeric| / max(1, |numeric|)
	Vars     []string
}

// CheckBlock checks the gradients of a tensor-valued block through the loss
// Σ out·R, with R a fixed pseudo-random tensor (so that no gradient
// direction is trivially zero).
func CheckBlock(t testing.TB, fn ScalarFn, inputs []*tensors.Tensor, opts *Options) Result {
	t.Helper()
	return CheckGradients(t, func(scope *model.Scope, in []*Node) *Node {
		return WeightedSum(fn(scope, in))
	}, inputs, opts)
}

// WeightedSum returns Σ x·R with R = sin(1.3·k + 0.4) over the flat index k:
// a deterministic projection of x to a scalar.
func WeightedSum(x *Node) *Node {
	r := Sin(AddScalar(MulScalar(IotaFull(x.Graph(), x.Shape()), 1.3), 0.4))
	return ReduceAllSum(Mul(x, r))
}

// CheckGradients compares the gradient of the scalar fn with respect to every
// float input and every trainable variable fn uses against central finite
// differences, reporting mismatches through t.
func CheckGradients(t testing.TB, fn ScalarFn, inputs []*tensors.Tensor, opts *Options) Result {
	t.Helper()
	o := opts.withDefaults()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, o.Seed)

	var varPaths []string
	var floatInputs []int
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
		if in.DType().IsFloat() {
			floatInputs = append(floatInputs, i)
		}
	}

	gradExec := model.MustNewExec(Backend(), store, func(scope *model.Scope, in []*Node) []*Node {
		g := in[0].Graph()
		loss := fn(scope, in)
		if loss.Rank() != 0 {
			panic(fmt.Sprintf("nntest: fn must return a scalar, got %s", loss.Shape()))
		}
		var wrt []*Node
		if !o.NoInputs {
			for _, i := range floatInputs {
				wrt = append(wrt, in[i])
			}
		}
		varPaths = varPaths[:0]
		if !o.NoVars {
			for v := range scope.IterVariables() {
				if v.Trainable && v.DType().IsFloat() && v.InUseByGraph(g) {
					varPaths = append(varPaths, v.Path())
					wrt = append(wrt, v.NodeValue(g))
				}
			}
		}
		return append([]*Node{loss}, Gradient(loss, wrt...)...)
	})
	lossExec := model.MustNewExec(Backend(), store, func(scope *model.Scope, in []*Node) *Node {
		return fn(scope, in)
	})
	loss := func() float64 {
		return toFloat64(lossExec.MustCall1(args...))[0]
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 7))
	if o.RandomizeVars > 0 {
		loss() // creates and initialises the variables
		for v := range store.IterVariables() {
			if !v.Trainable || !v.DType().IsFloat() {
				continue
			}
			x := make([]float64, v.Shape().Size())
			for i := range x {
				x[i] = o.RandomizeVars * (2*rng.Float64() - 1)
			}
			if err := v.SetValue(fromFloat64(v.MustValue(), x)); err != nil {
				panic(err)
			}
		}
	}
	outs := gradExec.MustCall(args...)
	res := Result{Vars: varPaths}
	failures := 0
	check := func(name string, analytic []float64, get func() []float64, set func([]float64)) {
		base := get()
		for _, k := range coords(rng, len(base), o.MaxCoords) {
			x := append([]float64(nil), base...)
			x[k] = base[k] + o.Step
			set(x)
			lp := loss()
			x[k] = base[k] - o.Step
			set(x)
			lm := loss()
			num := (lp - lm) / (2 * o.Step)
			e := math.Abs(analytic[k]-num) / math.Max(1, math.Abs(num))
			res.Checked++
			res.MaxError = math.Max(res.MaxError, e)
			if e > o.Tol || math.IsNaN(e) {
				failures++
				if failures <= 8 {
					t.Errorf("gradient of %s at flat index %d: analytic %.10g, numeric %.10g (error %.2g > %.2g)",
						name, k, analytic[k], num, e, o.Tol)
				}
			}
		}
		set(base)
	}

	grads := outs[1:]
	gi := 0
	if !o.NoInputs {
		for _, i := range floatInputs {
			in := inputs[i]
			check(fmt.Sprintf("input #%d", i), toFloat64(grads[gi]),
				func() []float64 { return toFloat64(in) },
				func(x []float64) { args[i] = fromFloat64(in, x) })
			gi++
		}
	}
	for _, path := range varPaths {
		v := store.GetVariable(path)
		check("variable "+path, toFloat64(grads[gi]),
			func() []float64 { return toFloat64(v.MustValue()) },
			func(x []float64) {
				if err := v.SetValue(fromFloat64(v.MustValue(), x)); err != nil {
					panic(err)
				}
			})
		gi++
	}
	if res.Checked == 0 {
		t.Errorf("nntest: no coordinate was checked (no float inputs or variables?)")
	}
	if failures > 8 {
		t.Errorf("... and %d more gradient mismatches", failures-8)
	}
	return res
}

// coords picks up to max distinct indices below n.
func coords(rng *rand.Rand, n, max int) []int {
	if n <= max {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	return rng.Perm(n)[:max]
}

func toFloat64(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		r := make([]float64, len(f))
		for i, v := range f {
			r[i] = float64(v)
		}
		return r
	}
	panic(fmt.Sprintf("nntest: unsupported dtype %s", t.DType()))
}

// fromFloat64 returns a new tensor shaped like like, holding x.
func fromFloat64(like *tensors.Tensor, x []float64) *tensors.Tensor {
	t := tensors.FromShape(like.Shape())
	switch like.DType() {
	case dtypes.Float64:
		tensors.MustMutableFlatData(t, func(flat []float64) { copy(flat, x) })
	case dtypes.Float32:
		tensors.MustMutableFlatData(t, func(flat []float32) {
			for i, v := range x {
				flat[i] = float32(v)
			}
		})
	default:
		panic(fmt.Sprintf("nntest: unsupported dtype %s", like.DType()))
	}
	return t
}
