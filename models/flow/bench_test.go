package flow

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"genmod/internal/engine"
	"genmod/models"
)

// benchImageStep times one Adam step of an image flow's Loss on random
// dequantized-looking images in [-1, 1].
func benchImageStep(b *testing.B, c Config, shape []int, batch int) {
	backend, err := engine.NewBackend("")
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewConfig(c, Options{}, models.DataInfo{Shape: shape})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dims := append([]int{batch}, shape...)
	xs := make([]float32, batch*m.info.Dim())
	for i := range xs {
		xs[i] = 2*rng.Float32() - 1
	}
	x := tensors.FromFlatDataAndDimensions(xs, dims...)
	store := model.NewStore()
	opt := optimizer.Adam().LearningRate(1e-3).Done()
	step := model.MustNewExec(backend, store, func(s *model.Scope, x *Node) *Node {
		loss := m.Loss(s, x, nil)
		opt.UpdateGraph(s, x.Graph(), loss)
		return loss
	})
	step.MustCall(x)
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step.MustCall(x)
	}
	b.StopTimer()
	// CPU time per step: on a shared machine wall time swings with the load,
	// CPU time much less (wall ≈ cpu/2 on 2 idle cores).
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// BenchmarkImageFlowStep is one training step of the default glow and
// realnvp on 28x28x1 at batch 64 (the numbers quoted at DefaultGlowImage).
func BenchmarkImageFlowStep(b *testing.B) {
	for _, kind := range []string{"glow", "realnvp"} {
		b.Run(kind, func(b *testing.B) {
			benchImageStep(b, Config{Kind: kind}, []int{28, 28, 1}, 64)
		})
	}
}

// BenchmarkImageFlowSizes compares sizes around the defaults.
func BenchmarkImageFlowSizes(b *testing.B) {
	for _, c := range []Config{
		{Kind: "glow", Layers: 4, Widths: []int{32}},
		{Kind: "glow", Layers: 4, Widths: []int{96}},
		{Kind: "realnvp", Layers: 2, Widths: []int{32, 64}},
		{Kind: "realnvp", Layers: 3, Widths: []int{16, 32}},
		{Kind: "realnvp", Layers: 3, Widths: []int{16, 64}},
		{Kind: "realnvp", Layers: 2, Widths: []int{16, 64}},
	} {
		b.Run(fmt.Sprintf("%s-k%d-w%v", c.Kind, c.Layers, c.Widths), func(b *testing.B) {
			benchImageStep(b, c, []int{28, 28, 1}, 64)
		})
	}
}
