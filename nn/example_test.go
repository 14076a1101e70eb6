package nn_test

import (
	"fmt"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn"
)

// A class-conditional U-Net predicting, e.g., a rectified-flow velocity for
// a batch of 28x28 grey images. Untrained, it outputs zeros (its last
// convolution starts at zero).
func Example() {
	// parallelism=-1 avoids a worker-pool deadlock of GoMLX v0.28.2 (and
	// makes the backend print the line seen in the output).
	backend, err := compute.NewWithConfig("go:parallelism=-1")
	if err != nil {
		panic(err)
	}
	cfg := nn.DefaultUNetConfig(10)
	store := model.NewStore()
	velocity := model.MustNewExec(backend, store, func(scope *model.Scope, x, t, labels *Node) *Node {
		return nn.UNet(scope.In("unet"), x, t, labels, cfg)
	})

	x := tensors.FromFlatDataAndDimensions(make([]float32, 2*28*28), 2, 28, 28, 1)
	t := tensors.FromValue([]float32{0.25, 0.75})
	labels := tensors.FromValue([]int32{3, int32(nn.NullClass(10))}) // class 3, and "no class"
	v := velocity.MustCall1(x, t, labels)
	fmt.Println(v.Shape())
	// Output:
	// Go backend: parallelism set to -1
	// (Float32)[2, 28, 28, 1]
}
