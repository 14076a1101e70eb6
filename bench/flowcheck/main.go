// Command flowcheck writes one density evaluation of genmod's normalizing
// flows as `genmod train` builds them (-model realnvp: vectors of dimension
// 2, as on moons; -model glow: 28x28x1 images, the default 2 levels of 4
// steps), with random weights, as JSON: every variable (path, shape,
// row-major values), each invertible 1x1 convolution's matrix W = P·L·(U +
// diag(sign(s)·exp(log|s|))) at initialization and after the weights were
// randomized (glow), the input batch x, and per example the total
// log|det ∂z/∂x| and log p(x). bench/torch_rf.py --config realnvp-mlp|glow
// --check FILE loads the weights into its PyTorch mirror (bench/torch_flows.py)
// and compares, so the benchmark's PyTorch flows are checked to compute the
// same function (log-dets, the LU weight assembly, the prior), not only to
// have the same parameter count. bench/compare.py runs both when a flow
// config is benchmarked.
//
//	GOEXPERIMENT=simd go run ./bench/flowcheck -model glow > /tmp/glow.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/bench/internal/mirror"
	"genmod/internal/engine"
	"genmod/models"
	"genmod/models/flow"
)

func main() {
	kind := flag.String("model", "glow", "realnvp (vectors [2]) or glow (images [28,28,1])")
	flag.Parse()
	if err := run(*kind); err != nil {
		fmt.Fprintln(os.Stderr, "flowcheck:", err)
		os.Exit(1)
	}
}

func run(kind string) error {
	var b int
	var shape []int
	switch kind {
	case "realnvp":
		b, shape = 5, []int{2}
	case "glow":
		b, shape = 3, []int{28, 28, 1}
	default:
		return fmt.Errorf("unknown -model %q (realnvp or glow)", kind)
	}
	m, err := flow.New(kind, flow.Options{}, models.DataInfo{Shape: shape})
	if err != nil {
		return err
	}
	backend, err := engine.NewBackend("")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dims := append([]int{b}, shape...)
	n := b
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		if kind == "glow" {
			x[i] = float32(2*rng.Float64() - 1) // pixels in [-1, 1]
		} else {
			x[i] = float32(1.5 * rng.NormFloat64())
		}
	}
	xs := tensors.FromFlatDataAndDimensions(x, dims...)

	// The invertible 1x1 convolutions' matrices, flattened and concatenated
	// in (level, layer) order.
	type conv struct {
		level, layer, c int // c: channels where it runs
		l               flow.InvConv1x1
	}
	var convs []conv
	c := shape[len(shape)-1]
	for i, lv := range m.MultiScale().Levels {
		for j, l := range lv.Layers {
			switch l := l.(type) {
			case flow.Squeeze2x2:
				c *= 4
			case flow.InvConv1x1:
				convs = append(convs, conv{i, j, c, l})
			}
		}
		if lv.Split {
			c /= 2
		}
	}
	eval := func(scope *model.Scope, x *Node) []*Node {
		z, ld := m.EncodeGraph(scope, x)
		outs := []*Node{ld, Add(ld, flow.StdNormalLogProb(z))}
		if len(convs) > 0 {
			var ws []*Node
			for _, c := range convs {
				s := scope.At("flow").At("level_%d", c.level).At("layer_%d", c.layer)
				like := Zeros(x.Graph(), shapes.Make(x.DType(), 1, c.c))
				ws = append(ws, Reshape(c.l.Matrix(s, like), -1))
			}
			outs = append(outs, Concatenate(ws, 0))
		}
		return outs
	}
	store := model.NewStore()
	init, err := model.CallOnceN(backend, store, eval, xs) // creates the variables (ActNorm from x)
	if err != nil {
		return err
	}
	// Random weights everywhere (the couplings' last layers start at or near
	// 0, which would hide most of the network): matrices uniform with
	// variance 1/fan-in (the last layers' a hundredth of it), vectors ±0.1;
	// the LU factors of the 1x1 convs get ±0.1 added to every entry (their
	// masked parts too, so the masks are tested).
	vars, err := mirror.Randomize(store, func(v *model.Variable) []float32 {
		vd := v.Shape().Dimensions
		old := tensors.MustCopyFlatData[float32](v.MustValue())
		data := make([]float32, len(old))
		p := v.Path()
		// The conditioners' last layers (realnvp: the default 2 hidden layers).
		last := strings.Contains(p, "/conv_out/") || strings.Contains(p, "/net/layer_2/")
		for i := range data {
			u := 2*rng.Float64() - 1
			switch {
			case strings.HasSuffix(p, "/lower"), strings.HasSuffix(p, "/upper"), strings.HasSuffix(p, "/log_s"):
				data[i] = old[i] + float32(0.1*u)
			case len(vd) >= 2:
				if last {
					u *= 0.1 // moderate s and t: z stays O(1)
				}
				data[i] = float32(math.Sqrt(3*float64(vd[len(vd)-1])/float64(len(data))) * u)
			default:
				data[i] = float32(0.1 * u)
			}
		}
		return data
	})
	if err != nil {
		return err
	}
	out, err := model.CallOnceN(backend, store, eval, xs)
	if err != nil {
		return err
	}
	res := map[string]any{
		"model": kind, "vars": vars, "x": x, "x_shape": dims,
		"logdet":  tensors.MustCopyFlatData[float32](out[0]),
		"logprob": tensors.MustCopyFlatData[float32](out[1]),
	}
	if len(convs) > 0 {
		res["w_init"] = tensors.MustCopyFlatData[float32](init[2])
		res["w"] = tensors.MustCopyFlatData[float32](out[2])
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
