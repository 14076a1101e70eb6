package nn

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// MLPNetConfig shapes a VelocityMLP.
type MLPNetConfig struct {
	Hidden     []int      // hidden layer sizes
	TimeDim    int        // size of the time (and class) embedding
	NumClasses int        // > 0: class-conditional, labels in 0..NumClasses (NullClass)
	Activation Activation // zero value: SiLU
}

// DefaultMLPNetConfig suits 2-D toy data.
func DefaultMLPNetConfig(numClasses int) MLPNetConfig {
	return MLPNetConfig{Hidden: []int{256, 256, 256}, TimeDim: 64, NumClasses: numClasses}
}

// VelocityMLP maps x [B,D], t [B] in [0,1] and optional labels [B] int32
// (nil: NullClass when cfg.NumClasses > 0) to [B,D]. The activated
// time+class embedding is added, projected, to every hidden layer (as a
// ResBlock does per channel), so the condition reaches every depth.
func VelocityMLP(scope *model.Scope, x, t, labels *Node, cfg MLPNetConfig) *Node {
	if x.Rank() != 2 || !x.DType().IsFloat() {
		panic(fmt.Sprintf("nn.VelocityMLP: x must be a float [B,D] tensor, got %s", x.Shape()))
	}
	if len(cfg.Hidden) == 0 || cfg.TimeDim < 2 || cfg.NumClasses < 0 {
		panic(fmt.Sprintf("nn.VelocityMLP: invalid config %+v", cfg))
	}
	emb := conditioning(scope, x, t, labels, cfg.TimeDim, cfg.NumClasses, cfg.Activation)
	h := x
	for i, n := range cfg.Hidden {
		h = Dense(scope.In("layer_%d", i), h, n)
		h = cfg.Activation.Apply(Add(h, Dense(scope.In("embedding_%d", i), emb, n)))
	}
	return Dense(scope.In("output"), h, x.Shape().Dimensions[1])
}
