// Package mirror is what the weight-dumping checks (bench/ditcheck,
// bench/flowcheck) share: they give a genmod network random weights, run it,
// and write weights, inputs and outputs as JSON for a PyTorch mirror to load
// and compare (bench/torch_rf.py --check). Random weights, because the
// initial ones have layers at or near 0 that would hide most of a network.
package mirror

import (
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Variable is one weight as the PyTorch side reads it: its path in the
// store, its shape and its row-major values.
type Variable struct {
	Path  string    `json:"path"`
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

// Randomize sets every trainable variable of store to the values fill
// returns for it (row-major, of the variable's size), in the store's
// order, and returns them for the JSON file. The other variables hold the
// random-number state and are left alone. fill draws from the check's
// seeded generator, so the order is part of the output.
func Randomize(store *model.Store, fill func(v *model.Variable) []float32) ([]Variable, error) {
	var vars []Variable
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		dims := v.Shape().Dimensions
		data := fill(v)
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(data, dims...)); err != nil {
			return nil, err
		}
		vars = append(vars, Variable{Path: v.Path(), Shape: dims, Data: data})
	}
	return vars, nil
}
