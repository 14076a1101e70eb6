package models

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Optimizer is a parameter group's optimizer. The zero value is the run's
// own: Adam with the run's lr, weight decay and clip-norm.
type Optimizer struct {
	Kind         string  // "adam" (default), "adamw" (Adam with decoupled weight decay) or "rmsprop"
	LR           float64 // peak learning rate; 0: the run's lr. The run's warm-up and schedule scale it.
	Beta1, Beta2 float64 // Adam's β1 and β2; 0: 0.9 and 0.999
	WeightDecay  float64 // adamw; 0: the run's weight decay
	// ClipNorm clips the group's gradients to this global norm; 0: the
	// run's clip-norm; < 0: no clipping.
	ClipNorm float64
}

// Phase is one update of one parameter group within a training step. A
// step runs the phases in order, each Repeat times on a fresh batch.
type Phase struct {
	// Name labels the phase's loss in metrics ("discriminator").
	Name string
	// Scope is the group: the trainable variables under this scope below
	// the model's root (e.g. "disc"), which the phase's optimizer updates.
	// Other variables its loss reads stay as they are.
	Scope     string
	Optimizer Optimizer
	Repeat    int // updates per training step (0: 1), e.g. k critic steps per generator step
	// Loss is the scalar the group minimizes, for a batch x with labels
	// (zeros when the data has none). scope is the model's root: enter
	// sub-scopes with At, since every phase builds the same model.
	Loss func(scope *model.Scope, x, labels *graph.Node) *graph.Node
	// Metrics, when set, replaces Loss: it returns the loss and named
	// scalars computed in the same graph (D(x), D(G(z)), a critic's W1
	// estimate), which the trainer logs with the loss as "name/metric".
	Metrics func(scope *model.Scope, x, labels *graph.Node) (loss *graph.Node, metrics map[string]*graph.Node)
	// After, when set, runs in the same graph after the optimizer's update,
	// for updates outside the gradient (weight clipping, EMA codebooks):
	// it reads the updated variables with NodeValue and writes with
	// SetNodeValue.
	After func(scope *model.Scope, g *graph.Graph)
}

// Stepper is implemented by models whose training step is not one loss
// with one optimizer (GANs, VQ-VAEs): the trainer runs its phases instead
// of Loss, keeps every group's optimizer state and every variable in the
// checkpoint, and resumes them bit for bit. The run's EMA covers every
// trainable variable; each is averaged after its group's update.
type Stepper interface {
	Model
	Phases() []Phase
}
