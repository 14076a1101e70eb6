// Command unetcheck is genmod's half of the PyTorch numerics check of the
// U-Net (nn.UNet as `genmod train --model rf` builds it for 28x28x1 images),
// done through the real export path:
//
//  1. without --run, it trains a small rf run on fashion-mnist-mini for a
//     few steps (lr 5e-3, no warm-up, so every weight has moved away from
//     its initialisation, the zero-initialised output layer included) in a
//     temporary folder;
//  2. it exports the run's newest checkpoint with the code of `genmod
//     export` (runs.Session.Export) to OUT/unet.safetensors;
//  3. it runs one forward pass of the network with those (EMA) weights on
//     fixed inputs, x [B,28,28,1] ~ N(0, 1), one t and one label per
//     example (the last the null class), and writes x, t, labels and the
//     output, with the network's config in the metadata, to
//     OUT/unet_io.safetensors.
//
// bench/torch_unet_check.py OUT then loads the weights into bench/torch_rf.py's
// PyTorch U-Net, runs the same inputs and compares.
//
//	GOEXPERIMENT=simd go run ./bench/unetcheck --out /tmp/unetcheck
//	/usr/bin/python3 bench/torch_unet_check.py /tmp/unetcheck
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/safetensors"
	_ "genmod/models/all"
	"genmod/models/diffusion"
	"genmod/nn"
	"genmod/runs"
	"genmod/train"
)

// predictor is the diffusion model's network call as the samplers use it.
type predictor interface {
	Predict(scope *model.Scope, x, t, inScale, labels *Node, guided bool, w *Node) *Node
}

func main() {
	runDir := flag.String("run", "", "an existing rf U-Net run to check (default: train a small one in a temporary folder)")
	out := flag.String("out", "", "output folder for unet.safetensors and unet_io.safetensors (required)")
	steps := flag.Int("steps", 3, "training steps of the temporary run")
	batch := flag.Int("batch", 8, "batch size of the temporary run")
	weights := flag.String("weights", runs.WeightsEMA, "weights to export and run: ema or raw")
	flag.Parse()
	if err := run(*runDir, *out, *steps, *batch, *weights); err != nil {
		fmt.Fprintln(os.Stderr, "unetcheck:", err)
		os.Exit(1)
	}
}

func run(runDir, out string, steps, batch int, weights string) error {
	if out == "" {
		return errors.New("give the output folder (--out DIR)")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if runDir == "" {
		tmp, err := os.MkdirTemp("", "unetcheck-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		runDir = filepath.Join(tmp, "run")
		cfg := runs.DefaultConfig()
		cfg.Model, cfg.Data, cfg.Out = "rf", "fashion-mnist-mini", runDir
		cfg.Steps, cfg.Batch, cfg.Warmup, cfg.LR = steps, batch, 0, 5e-3
		if _, err := train.Train(context.Background(), cfg, train.Options{Log: os.Stderr, NoSamples: true}); err != nil {
			return err
		}
	}
	s, err := runs.Open(runDir, "")
	if err != nil {
		return err
	}
	cfg, err := unetConfig(s)
	if err != nil {
		return err
	}
	info, err := s.Export(filepath.Join(out, "unet.safetensors"), runs.ExportOptions{Weights: weights, Force: true})
	if err != nil {
		return err
	}

	// Fixed inputs: B examples with spread-out times and labels.
	const b = 4
	shape := append([]int{b}, s.Info.Shape...)
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, b*s.Info.Dim())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	t := []float32{0.03, 0.37, 0.62, 0.97}
	labels := []int32{3, 7, 0, int32(nn.NullClass(cfg.NumClasses))}
	if cfg.NumClasses == 0 {
		labels = []int32{0, 0, 0, 0}
	}
	xs := tensors.FromFlatDataAndDimensions(x, shape...)
	ls := tensors.FromFlatDataAndDimensions(labels, b)
	rt := s.Runtime(info.Weights == runs.WeightsEMA)
	net := func(x, t, labels *Node) *Node {
		if cfg.NumClasses == 0 {
			labels = nil
		}
		return nn.UNet(rt.Scope().In("net"), x, t, labels, cfg)
	}
	before := s.Store.NumVariables()
	res, err := model.CallOnce(s.Backend, s.Store, func(_ *model.Scope, x, t, labels *Node) *Node { return net(x, t, labels) },
		xs, tensors.FromFlatDataAndDimensions(t, b), ls)
	if err != nil {
		return err
	}
	y := tensors.MustCopyFlatData[float32](res)

	// The same network, called as the samplers call it (the model's own
	// Predict, one t for the batch), must give the same numbers: this
	// program's U-Net config is the model's.
	const tc = 0.5
	viaModel, err := model.CallOnce(s.Backend, s.Store, func(_ *model.Scope, x, labels *Node) *Node {
		g := x.Graph()
		return s.Model.(predictor).Predict(rt.Scope(), x, Scalar(g, dtypes.Float32, tc), Scalar(g, dtypes.Float32, 1), labels, false, nil)
	}, xs, ls)
	if err != nil {
		return err
	}
	direct, err := model.CallOnce(s.Backend, s.Store, func(_ *model.Scope, x, labels *Node) *Node {
		return net(x, Const(x.Graph(), []float32{tc, tc, tc, tc}), labels)
	}, xs, ls)
	if err != nil {
		return err
	}
	if s.Store.NumVariables() != before {
		return fmt.Errorf("the U-Net created %d new variables: its config %+v is not the run's", s.Store.NumVariables()-before, cfg)
	}
	if d := maxAbsDiff(tensors.MustCopyFlatData[float32](viaModel), tensors.MustCopyFlatData[float32](direct)); d != 0 {
		return fmt.Errorf("nn.UNet with config %+v differs from the model's own network by %g", cfg, d)
	}

	cfgJSON, err := json.Marshal(map[string]any{"channels": cfg.Channels, "res_blocks_per_level": cfg.ResBlocksPerLevel,
		"groups": cfg.Groups, "time_dim": cfg.TimeDim, "num_classes": cfg.NumClasses, "attention": cfg.Attention,
		"activation": cfg.Activation.String()})
	if err != nil {
		return err
	}
	le := func(v any) []byte {
		buf, err := binary.Append(nil, binary.LittleEndian, v)
		if err != nil {
			panic(err) // v is a []float32 or []int32
		}
		return buf
	}
	io := []safetensors.Tensor{
		{Name: "x", DType: "F32", Shape: shape, Data: le(x)},
		{Name: "t", DType: "F32", Shape: []int{b}, Data: le(t)},
		{Name: "labels", DType: "I32", Shape: []int{b}, Data: le(labels)},
		{Name: "out", DType: "F32", Shape: shape, Data: le(y)},
	}
	meta := map[string]string{"unet_config": string(cfgJSON), "run": runDir, "step": fmt.Sprint(info.Step), "weights": info.Weights}
	ioPath := filepath.Join(out, "unet_io.safetensors")
	if err := safetensors.Write(ioPath, io, meta); err != nil {
		return err
	}
	var maxOut float64
	for _, v := range y {
		maxOut = math.Max(maxOut, math.Abs(float64(v)))
	}
	fmt.Fprintf(os.Stderr, "unetcheck: exported %d tensors (%d parameters, %s weights, step %d) to %s; forward pass of %d examples (max |out| %.4g) to %s\n",
		info.Tensors, info.Params, info.Weights, info.Step, info.Path, b, maxOut, ioPath)
	return nil
}

// unetConfig is the nn.UNetConfig the run's rf/diffusion model builds
// (diffusion's newNet): DefaultUNetConfig with the run's channels and time
// dimension. The Predict comparison in run checks that it is.
func unetConfig(s *runs.Session) (nn.UNetConfig, error) {
	c := s.Run.Config
	ro, err := c.ResolvedOptions()
	if err != nil {
		return nn.UNetConfig{}, err
	}
	o, isDiffusion := ro.(diffusion.Options)
	if _, ok := s.Model.(predictor); !ok || !isDiffusion || !s.Info.IsImage() || (o.Net != "" && o.Net != "unet") {
		return nn.UNetConfig{}, fmt.Errorf("run %s is not a diffusion U-Net on images (model %s, net %q, data shape %v)", s.Run.Dir, c.Model, o.Net, s.Info.Shape)
	}
	numClasses := 0
	if cond, ok := s.Model.(interface{ NumClasses() int }); ok {
		numClasses = cond.NumClasses()
	}
	cfg := nn.DefaultUNetConfig(numClasses)
	if len(o.Channels) > 0 {
		cfg.Channels = o.Channels
	}
	if o.TimeDim > 0 {
		cfg.TimeDim = o.TimeDim
	}
	return cfg, nil
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
