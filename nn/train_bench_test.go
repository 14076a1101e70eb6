package nn

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"genmod/nn/nntest"
)

// benchStep times one Adam training step of net on a regression loss.
func benchStep(b *testing.B, net func(s *model.Scope, x, t, labels *Node) *Node, xDims []int) {
	batch := xDims[0]
	x, target := randF32(xDims...), randF32(xDims...)
	ts := make([]float32, batch)
	ls := make([]int32, batch)
	for i := range ts {
		ts[i] = float32(i) / float32(batch)
		ls[i] = int32(i % 10)
	}
	tt, lt := tensors.FromValue(ts), tensors.FromValue(ls)
	store := model.NewStore()
	opt := optimizer.Adam().LearningRate(1e-3).Done()
	step := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, t, labels, target *Node) *Node {
		loss := ReduceAllMean(Square(Sub(net(s.In("net"), x, t, labels), target)))
		opt.UpdateGraph(s.At("net"), x.Graph(), loss)
		return loss
	})
	step.MustCall(x, tt, lt, target)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step.MustCall(x, tt, lt, target)
	}
}

// BenchmarkUNetStep is one Adam step of the default class-conditional U-Net
// on 28x28x1 images.
func BenchmarkUNetStep(b *testing.B) {
	cfg := DefaultUNetConfig(10)
	for _, batch := range []int{64, 32} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return UNet(s, x, t, l, cfg) }, []int{batch, 28, 28, 1})
		})
	}
}

func BenchmarkUNetStepAttention(b *testing.B) {
	cfg := DefaultUNetConfig(10)
	cfg.Attention, cfg.Heads = true, 4
	benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return UNet(s, x, t, l, cfg) }, []int{64, 28, 28, 1})
}

// BenchmarkVelocityMLPStep: the default velocity MLP on 2-D data, batch 256.
func BenchmarkVelocityMLPStep(b *testing.B) {
	cfg := DefaultMLPNetConfig(10)
	benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return VelocityMLP(s, x, t, l, cfg) }, []int{256, 2})
}

// BenchmarkVelocityMLPStepMNIST: a velocity MLP on flattened 28x28 images, batch 128.
func BenchmarkVelocityMLPStepMNIST(b *testing.B) {
	cfg := MLPNetConfig{Hidden: []int{1024, 1024}, TimeDim: 128, NumClasses: 10}
	benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return VelocityMLP(s, x, t, l, cfg) }, []int{128, 784})
}

// BenchmarkUNetConfigs compares channel widths (the default is 16-32-64).
func BenchmarkUNetConfigs(b *testing.B) {
	for _, tc := range []struct {
		name string
		ch   []int
	}{{"16-32-64", []int{16, 32, 64}}, {"32-64-64", []int{32, 64, 64}}, {"32-64-128", []int{32, 64, 128}}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultUNetConfig(10)
			cfg.Channels = tc.ch
			benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return UNet(s, x, t, l, cfg) }, []int{64, 28, 28, 1})
		})
	}
}

// BenchmarkMLPStepDesign is DESIGN.md's calibration model: MLP
// 784-1024-1024-784, batch 128, Adam (34-38 steps/s on the design machine).
func BenchmarkMLPStepDesign(b *testing.B) {
	benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return MLP(s, x, []int{1024, 1024}, 784) }, []int{128, 784})
}

// BenchmarkUNetActivation compares SiLU and ReLU in the default U-Net.
func BenchmarkUNetActivation(b *testing.B) {
	for _, act := range []Activation{SiLU, ReLU} {
		b.Run(act.String(), func(b *testing.B) {
			cfg := DefaultUNetConfig(10)
			cfg.Channels = []int{16, 32, 64}
			cfg.Activation = act
			benchStep(b, func(s *model.Scope, x, t, l *Node) *Node { return UNet(s, x, t, l, cfg) }, []int{64, 28, 28, 1})
		})
	}
}
