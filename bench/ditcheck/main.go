// Command ditcheck writes one forward pass of genmod's nn.DiT
// (DefaultDiTConfig(10), as `genmod train --model dit` builds it for 28x28x1
// images) with random weights, as JSON: every variable (path, shape,
// row-major values), the inputs x [B,28,28,1], t [B], labels [B] and the
// output. bench/torch_rf.py --config dit --check FILE loads the weights into
// its PyTorch mirror and compares the outputs, so the benchmark's PyTorch
// DiT is checked to compute the same function, not only to have the same
// parameter count. bench/compare.py runs both at the start of `make bench`.
//
//	GOEXPERIMENT=simd go run ./bench/ditcheck > /tmp/dit.json
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/bench/internal/mirror"
	"genmod/internal/engine"
	"genmod/nn"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ditcheck:", err)
		os.Exit(1)
	}
}

func run() error {
	const b, side, classes = 3, 28, 10
	cfg := nn.DefaultDiTConfig(classes)
	backend, err := engine.NewBackend("")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, b*side*side)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	t := []float32{0.05, 0.5, 0.97}
	labels := []int32{3, 7, classes} // the last one is the null class
	xs := tensors.FromFlatDataAndDimensions(x, b, side, side, 1)
	ts := tensors.FromFlatDataAndDimensions(t, b)
	ls := tensors.FromFlatDataAndDimensions(labels, b)
	net := func(scope *model.Scope, x, t, labels *Node) *Node { return nn.DiT(scope, x, t, labels, cfg) }

	store := model.NewStore()
	if _, err := model.CallOnce(backend, store, net, xs, ts, ls); err != nil { // creates the variables
		return err
	}
	// Random weights everywhere (the adaLN and output layers start at 0,
	// which would hide most of the network): matrices uniform with variance
	// 1/fan-in, biases ±0.1, class embeddings ±1.
	vars, err := mirror.Randomize(store, func(v *model.Variable) []float32 {
		dims := v.Shape().Dimensions
		scale := 0.1
		switch {
		case strings.HasSuffix(v.Path(), "/embeddings"):
			scale = 1
		case len(dims) == 2:
			scale = math.Sqrt(3 / float64(dims[0]))
		}
		data := make([]float32, v.Shape().Size())
		for i := range data {
			data[i] = float32(scale * (2*rng.Float64() - 1))
		}
		return data
	})
	if err != nil {
		return err
	}
	out, err := model.CallOnce(backend, store, net, xs, ts, ls)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"config": cfg, "vars": vars, "x": x, "x_shape": []int{b, side, side, 1}, "t": t, "labels": labels,
		"out": tensors.MustCopyFlatData[float32](out),
	})
}
