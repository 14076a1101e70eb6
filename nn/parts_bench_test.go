package nn

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute/shapes"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

// BenchmarkResBlockParts times forward+backward (input and variable
// gradients) of ResBlock pieces at 28x28, batch 64, to see where time goes.
func BenchmarkResBlockParts(b *testing.B) {
	const batch, hw, c = 64, 28, 32
	parts := map[string]func(s *model.Scope, x, e *Node) *Node{
		"conv": func(s *model.Scope, x, e *Node) *Node { return Conv2D(s.In("c"), x, c, 3) },
		"convNoBias": func(s *model.Scope, x, e *Node) *Node {
			return ConvKernel(x, s.VariableWithShape("k", shapesOf(x, 3, 3, c, c)).NodeValue(x.Graph()))
		},
		"groupnorm":  func(s *model.Scope, x, e *Node) *Node { return GroupNorm(s.In("n"), x, 8) },
		"act":        func(s *model.Scope, x, e *Node) *Node { return Act(x) },
		"relu":       func(s *model.Scope, x, e *Node) *Node { return Max(x, ZerosLike(x)) },
		"addEmb":     func(s *model.Scope, x, e *Node) *Node { return Add(x, Reshape(e, batch, 1, 1, c)) },
		"resBlock":   func(s *model.Scope, x, e *Node) *Node { return resBlock(s.In("r"), x, e, c, 8, SiLU) },
		"upsample":   func(s *model.Scope, x, e *Node) *Node { return Upsample(s.In("u"), x, c) },
		"downsample": func(s *model.Scope, x, e *Node) *Node { return Downsample(s.In("d"), x, c) },
	}
	for _, name := range []string{"conv", "convNoBias", "groupnorm", "act", "relu", "addEmb", "resBlock", "upsample", "downsample"} {
		f := parts[name]
		b.Run(name, func(b *testing.B) {
			dims := []int{batch, hw, hw, c}
			if name == "upsample" {
				dims = []int{batch, hw / 2, hw / 2, c}
			}
			x, e := randF32(dims...), randF32(batch, c)
			store := model.NewStore()
			ex := model.MustNewExec(nntest.Backend(), store, func(s *model.Scope, x, e *Node) []*Node {
				y := f(s, x, e)
				loss := ReduceAllSum(Mul(y, y))
				wrt := []*Node{x}
				for v := range s.IterVariables() {
					if v.Trainable && v.InUseByGraph(x.Graph()) {
						wrt = append(wrt, v.NodeValue(x.Graph()))
					}
				}
				return Gradient(loss, wrt...)
			})
			ex.MustCall(x, e)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ex.MustCall(x, e)
			}
		})
	}
	_ = fmt.Sprint
}

func shapesOf(x *Node, dims ...int) shapes.Shape { return shapes.Make(x.DType(), dims...) }
