package nn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/nn/nntest"
)

// The registered Pad VJP, first order (with interior padding and a
// non-constant fill value) and second order through Slice.
func TestPadGradient(t *testing.T) {
	cases := []struct {
		name string
		fn   nntest.ScalarFn
	}{
		{"pad", func(_ *model.Scope, in []*Node) *Node {
			y := Pad(in[0], ReduceAllSum(in[1]), compute.PadAxis{Start: 1, End: 2, Interior: 1}, compute.PadAxis{End: 1})
			return nntest.WeightedSum(Square(y))
		}},
		{"slice_second_order", func(_ *model.Scope, in []*Node) *Node {
			// ∇ₓ of a loss that slices x-dependent activations: its gradient
			// w.r.t. w needs the VJP of Slice's VJP, a Pad.
			x, w := in[0], in[1]
			h := Tanh(Mul(x, w))
			s := Slice(h, AxisRange(1, 3), AxisRange(0, 3).Stride(2))
			gx := Gradient(ReduceAllSum(Square(s)), x)[0]
			return ReduceAllSum(Square(gx))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nntest.CheckGradients(t, tc.fn, []*tensors.Tensor{nntest.Rand(1, 4, 3), nntest.Rand(2, 4, 3)}, nil)
		})
	}
}

func TestPrivateFieldErrors(t *testing.T) {
	if _, err := privateField(reflect.ValueOf(&Node{}), "noSuchField", nil); err == nil ||
		!strings.Contains(err.Error(), "noSuchField") {
		t.Errorf("missing field: err = %v", err)
	}
	if _, err := privateField(reflect.ValueOf(&Node{}), "customVJP", reflect.TypeOf(0)); err == nil {
		t.Errorf("wrong type accepted")
	}
	if _, err := privateField(reflect.ValueOf(&Node{}), "customVJP", vjpType); err != nil {
		t.Errorf("customVJP: %v", err)
	}
}

// With fusion disabled GoMLX runs the native convolution forward; the
// hand-written gradient must still be right.
func TestConvWithFusionDisabled(t *testing.T) {
	t.Setenv(FusionEnv, "false")
	nntest.CheckBlock(t, func(s *model.Scope, in []*Node) *Node {
		return Conv2D(s, in[0], 2, 3)
	}, []*tensors.Tensor{nntest.Rand(3, 1, 3, 3, 2)}, nil)
}
