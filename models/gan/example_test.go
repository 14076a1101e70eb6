package gan_test

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"genmod/models"
	"genmod/models/gan"
	"genmod/nn/nntest"
)

// A GAN is a models.Stepper: the trainer runs k critic (or discriminator)
// updates, then one generator update, each with the model's own optimizer.
func Example() {
	m, err := models.New("wgan-gp", map[string]any{"d-steps": 3}, models.DataInfo{Shape: []int{2}})
	if err != nil {
		panic(err)
	}
	for _, p := range m.(models.Stepper).Phases() {
		o := p.Optimizer
		fmt.Printf("%s: scope %q, %d update(s) per step, %s(lr %g, β %g, %g)\n", p.Name, p.Scope, max(p.Repeat, 1), o.Kind, o.LR, o.Beta1, o.Beta2)
	}
	_, err = models.New("wgan", map[string]any{"clip": -1.0}, models.DataInfo{Shape: []int{2}})
	fmt.Println(err)
	// Output:
	// critic: scope "disc", 3 update(s) per step, adam(lr 0.001, β 0.5, 0.9)
	// generator: scope "gen", 1 update(s) per step, adam(lr 0.0002, β 0.5, 0.9)
	// model wgan: clip must be > 0 (the critic's weights are clipped to [−c, c]), got -1
}

// At p_g = p_data the optimal discriminator is D* = 1/2 everywhere (logit
// 0), and the game's value is V(D*, G) = −log 4 (Theorem 1).
func ExampleValue() {
	zeros := []float32{0, 0, 0, 0}
	v := MustExecOnce(nntest.Backend(), func(real, fake *Node) *Node { return gan.Value(real, fake) },
		tensors.FromValue(zeros), tensors.FromValue(zeros))
	fmt.Printf("V = %.4f, −log 4 = %.4f\n", tensors.MustCopyFlatData[float32](v)[0], -math.Log(4))
	// Output: V = -1.3863, −log 4 = -1.3863
}
