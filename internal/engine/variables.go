package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/ml/model"
)

// VariableBytes returns a copy of v's value as little-endian bytes, as
// checkpoints and exports store it. A copy, because during training the
// tensor is donated to the next step.
func VariableBytes(v *model.Variable) ([]byte, error) {
	value, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("reading variable %s: %w", v.Path(), err)
	}
	var raw []byte
	if err := value.ConstBytes(func(b []byte) { raw = append([]byte(nil), b...) }); err != nil {
		return nil, fmt.Errorf("reading variable %s: %w", v.Path(), err)
	}
	return raw, nil
}
